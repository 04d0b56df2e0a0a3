// The governor's configuration file and `airt governor explain`'s replay of a trace.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "governor/config.h"
#include "governor/explain.h"

static const std::string kFixtures = std::string(AIRT_SOURCE_DIR) + "/tests/fixtures";

namespace airt::governor {
namespace {

TEST(GovernorConfig, ParsesTheFixture) {
  auto g = load_governor_config(kFixtures + "/governor/governor.json");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->space.tier_names, (std::vector<std::string>{"q8_0", "q4_0"}));
  EXPECT_EQ(g->space.windows, (std::vector<int32_t>{0, 512}));
  EXPECT_EQ(g->space.kv.size(), 2u);
  EXPECT_EQ(g->config.limits.soft_temp_c, 78);
  EXPECT_EQ(g->config.limits.mem_floor_mb.value_or(0), 512);
  EXPECT_FALSE(g->config.limits.power_cap_w.has_value());
  Space s = Space::make(g->space).value();
  EXPECT_EQ(s.size(), 8u);
  OperatingPoint p = s[3];  // q8_0, window 512, q8_0 KV
  EXPECT_NEAR(g->quality.figure(p).ppl, 7.95 * 1.03 * 1.004, 1e-12);
}

TEST(GovernorConfig, ErrorsNameTheKey) {
  auto bad = [](const char* json, const char* needle) {
    auto g = parse_governor_config(json, "g.json");
    ASSERT_FALSE(g.ok()) << json;
    EXPECT_NE(g.error().message.find(needle), std::string::npos) << g.error().message;
  };
  bad(R"({"tier": ["q8_0"]})", "g.json: tier: unknown key");
  bad(R"({"kv": ["f16", "q3"]})", "g.json: kv[1]: KV precision 'q3'");
  bad(R"({"windows": [-1]})", "g.json: windows: expected whole numbers >= 0");
  bad(R"({"tiers": ["a"], "perplexity": {"b": 3}})", "g.json: perplexity.b: not one of the tiers");
  bad(R"({"soft_temp_c": 90, "hard_temp_c": 80})", "hard_temp_c: must be above soft_temp_c");
  bad(R"({"window_ratio": {"x": 1.1}})", "window_ratio.x: expected a window");
  bad("nope", "g.json: not a JSON object");
}

TEST(Explain, ThrottleTraceMeetsEveryDeadlineWithoutFlapping) {
  auto setup = load_governor_config(kFixtures + "/governor/governor.json");
  ASSERT_TRUE(setup.ok());
  auto trace = Trace::load(kFixtures + "/traces/throttle.csv");
  ASSERT_TRUE(trace.ok()) << trace.error().message;
  const double start = trace->start_s(), end = trace->end_s();
  Sensors sensors = Sensors::replay(std::move(*trace));
  Governor g(Space::make(setup->space).value(), setup->quality, nullptr, setup->config);
  RequestStream stream;
  stream.every_s = 2, stream.ttft_ms = 1500, stream.deadline_ms = 5000, stream.slots = 2;
  std::vector<std::string> lines;
  ExplainSummary sum =
      explain_trace(g, sensors, start, end, stream, [&](const char* l) { lines.emplace_back(l); });
  for (const std::string& l : lines) std::printf("%s\n", l.c_str());
  EXPECT_EQ(sum.requests, 120);
  EXPECT_EQ(sum.missed, 0);
  EXPECT_GE(sum.met, 118);
  EXPECT_LE(sum.switches * 60.0 / sum.duration_s, 6.0);
  EXPECT_EQ(size_t(sum.switches), g.events().total());
  bool thermal = false;
  for (const std::string& l : lines) thermal = thermal || l.find("> soft 78") != std::string::npos;
  EXPECT_TRUE(thermal) << "the trace passes the soft limit";
  EXPECT_GT(sum.mean_ppl, 7.95);
  EXPECT_LT(sum.mean_ppl, 8.21 * 1.03 * 1.004);
  // The same trace again decides the same way.
  auto again = Trace::load(kFixtures + "/traces/throttle.csv");
  Sensors s2 = Sensors::replay(std::move(*again));
  Governor g2(Space::make(setup->space).value(), setup->quality, nullptr, setup->config);
  std::vector<std::string> lines2;
  explain_trace(g2, s2, start, end, stream, [&](const char* l) { lines2.emplace_back(l); });
  EXPECT_EQ(lines, lines2);
}

TEST(Explain, HotTraceShedsAndRefusesWithOverloaded) {
  auto trace = Trace::parse("t_s,temp_c\n0,70\n10,95\n20,95\n30,60\n", "hot.csv");
  ASSERT_TRUE(trace.ok());
  SpaceConfig c;
  c.tiers = {0, 1};
  Sensors sensors = Sensors::replay(std::move(*trace));
  Governor g(Space::make(c).value(), QualityTable{}, nullptr, GovernorConfig{});
  RequestStream stream;
  stream.every_s = 1;
  stream.max_tokens = 8;
  stream.prompt_tokens = 8;
  std::vector<std::string> lines;
  ExplainSummary sum =
      explain_trace(g, sensors, 0, 30, stream, [&](const char* l) { lines.emplace_back(l); });
  EXPECT_GT(sum.refused_overloaded, 0);
  bool refused = false;
  for (const std::string& l : lines) {
    refused = refused || l.find("refused: overloaded (temp 9") != std::string::npos;
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(g.point_index(), g.policy().best_point()) << "back once it cooled";
}

}  // namespace
}  // namespace airt::governor
