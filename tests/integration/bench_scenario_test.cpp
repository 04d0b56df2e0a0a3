// airt bench --calibrate and --scenario on stories260K (with a q8_0 copy as a second
// tier): the profile the governor loads, the scenario's JSON rows with every key and its
// SVG, and the memory scenario shrinking the window / KV precision and growing them back
// with no failed request and no allocation in the loop. Timings are never asserted.
#include <gtest/gtest.h>

#include <cjson/cJSON.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "governor/governor.h"
#include "governor/model/profile.h"
#include "runtime/cli/bench_scenario.h"
#include "runtime/core/file.h"
#include "runtime/engine/engine.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

using test::run_airt;

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDeleter>;

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// stories260K and a q8_0 copy of it in `dir`: a two-tier ladder, f32 best.
bool ladder(const std::string& dir, std::string& f32, std::string& q8) {
  f32 = test::model_path("stories260K.gguf");
  if (f32.empty()) return false;
  q8 = dir + "/stories-q8_0.gguf";
  EXPECT_EQ(run_airt({"quantize", f32, q8, "q8_0"}).status, 0);
  return true;
}

constexpr const char* kRowKeys[] = {
    "scenario", "policy",   "requests", "met",          "missed",     "refused",          "failed",
    "deadlines_met_pct",    "mean_ppl", "ppl_ratio",    "tokens",     "tokens_per_s",     "itl_p50_ms",
    "itl_p99_ms", "switches", "switches_per_min", "duration_s", "allocations", "shrank", "grew_back",
    "prompt_tokens", "max_tokens", "ttft_ms", "deadline_ms", "every_s", "slowdown"};

TEST(BenchScenario, CalibrateWritesAProfileTheGovernorLoads) {
  std::string dir = test::temp_dir(), f32, q8;
  if (!ladder(dir, f32, q8)) GTEST_SKIP() << "shared models absent";
  const std::string out = dir + "/profile.json";
  auto r = run_airt({"bench", "--calibrate", "-m", f32, "--ladder", q8, "-o", out, "--state-dir", dir, "-t", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto p = governor::load_profile(out);
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->points.size(), 2u);
  ASSERT_EQ(p->tier_perplexity.size(), 2u);
  EXPECT_GT(p->tier_perplexity[0], 1.0);
  EXPECT_GT(p->tier_perplexity[1], 1.0);
  for (const governor::ProfileEntry& e : p->points) {
    EXPECT_TRUE(e.tier && e.window && e.kv && e.draft_len && e.threads) << "every knob named";
    EXPECT_GT(e.step_ms + e.decode_ms_per_row, 0.0) << "a measured decode step costs something";
  }
  governor::SpaceConfig sc;
  sc.tiers = {0, 1};
  auto space = governor::Space::make(sc);
  ASSERT_TRUE(space.ok());
  governor::QualityTable q;
  governor::profile_quality(*p, q);
  EXPECT_TRUE(q.figure((*space)[1]).measured) << "the tier figures are measured now";
  governor::Governor g(std::move(*space), q, &*p, {});
  // Seeded from the profile (no CPU clock here, or its ratio): one decode row at tier 1.
  const governor::ProfileEntry& t1 = p->points[1];
  const double ratio = p->cpu_mhz > 0 && p->cpu_max_mhz > 0 ? p->cpu_mhz / p->cpu_max_mhz : 1.0;
  EXPECT_NEAR(g.costs().step_ms(1, 1, 0, 1.0), (t1.step_ms + t1.decode_ms_per_row) * ratio,
              0.05 * (t1.step_ms + t1.decode_ms_per_row) + 0.01);
  // A bad profile is refused by naming the key.
  write(dir + "/bad.json", R"({"format":"airt-latency-profile","version":1,"tier_perplexity":[-1],"points":[]})");
  auto bad = governor::load_profile(dir + "/bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("tier_perplexity[0]"), std::string::npos) << bad.error().message;
}

TEST(BenchScenario, CalibrateMeasuresWindowAndKvRatiosTheGovernorUses) {
  std::string dir = test::temp_dir(), f32, q8;
  if (!ladder(dir, f32, q8)) GTEST_SKIP() << "shared models absent";
  const std::string out = dir + "/profile.json";
  auto r = run_airt({"bench", "--calibrate", "-m", f32, "--ladder", q8, "-o", out, "--state-dir", dir, "-t", "1",
                     "-c", "256", "--windows", "0,32,128", "--kv", "f16,q8_0", "--slots", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("window 128: not measured"), std::string::npos) << "says why: " << r.out;
  auto p = governor::load_profile(out);
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->window_ratio.size(), 1u) << "window 32 measured; 128 spans the scored chunk";
  EXPECT_EQ(p->window_ratio[0].window, 32);
  EXPECT_GT(p->window_ratio[0].ratio, 0.0);
  ASSERT_EQ(p->kv_ratio.size(), 1u);
  EXPECT_EQ(governor::kv_precision_name(p->kv_ratio[0].kv), "q8_0");
  EXPECT_GT(p->kv_ratio[0].ratio, 0.0);

  governor::SpaceConfig sc;
  sc.tiers = {0, 1};
  sc.windows = {0, 32};
  sc.context = 256;
  sc.kv = {{}, p->kv_ratio[0].kv};
  auto space = governor::Space::make(sc);
  ASSERT_TRUE(space.ok()) << space.error().message;
  governor::QualityTable q;
  governor::profile_quality(*p, q);
  for (size_t i = 0; i < space->size(); ++i) {
    const governor::QualityTable::Figure f = q.figure((*space)[i]);
    EXPECT_TRUE(f.measured) << space->describe(i) << ": every figure measured";
    EXPECT_GT(f.ppl, 1.0) << space->describe(i);
  }
}

TEST(BenchScenario, ThrottleGivesARowPerPolicyWithEveryKeyAndAPlot) {
  std::string dir = test::temp_dir(), f32, q8;
  if (!ladder(dir, f32, q8)) GTEST_SKIP() << "shared models absent";
  const std::string trace = write(dir + "/hot.csv", "t_s,temp_c,cpu_mhz\n0,50,2400\n1,70,2000\n2,85,1500\n");
  const std::string svg = dir + "/s.svg";
  auto r = run_airt({"bench", "--scenario", "throttle", "-m", f32, "--ladder", q8, "--trace", trace, "-t", "1",
                     "--every", "0.1", "--deadline-ms", "2000", "--plot", svg, "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("emulated"), std::string::npos) << "says the slowdown is emulated: " << r.err;
  Json j(cJSON_Parse(r.out.c_str()));
  ASSERT_TRUE(j && cJSON_IsArray(j.get())) << r.out;
  ASSERT_EQ(cJSON_GetArraySize(j.get()), 3) << "governor, fixed f32, fixed q8_0: " << r.out;
  const char* policies[] = {"governor", "fixed f32", "fixed q8_0"};
  for (int i = 0; i < 3; ++i) {
    const cJSON* o = cJSON_GetArrayItem(j.get(), i);
    for (const char* k : kRowKeys) EXPECT_NE(cJSON_GetObjectItemCaseSensitive(o, k), nullptr) << k << ": " << r.out;
    EXPECT_STREQ(cJSON_GetObjectItemCaseSensitive(o, "policy")->valuestring, policies[i]);
    const int requests = cJSON_GetObjectItemCaseSensitive(o, "requests")->valueint;
    EXPECT_GT(requests, 5) << "one every 0.1 s over 2 s";
    EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(o, "met")->valueint +
                  cJSON_GetObjectItemCaseSensitive(o, "missed")->valueint,
              requests);
    EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(o, "failed")->valueint, 0);
    EXPECT_GT(cJSON_GetObjectItemCaseSensitive(o, "tokens")->valuedouble, 0);
  }
  const std::string plot = slurp(svg);
  for (const char* cls : {"temperature", "frequency", "operating_point", "latency", "deadline_misses"})
    EXPECT_NE(plot.find("class=\"" + std::string(cls) + "\""), std::string::npos) << cls;
  // A trace that is not one is refused by name.
  auto bad = run_airt({"bench", "--scenario", "throttle", "-m", f32, "--trace", write(dir + "/x.csv", "temp\n1\n")});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("x.csv"), std::string::npos) << bad.err;
  EXPECT_EQ(run_airt({"bench", "--scenario", "boil", "-m", f32}).status, 2);
}

TEST(BenchScenario, MemoryShrinksAndGrowsBackWithNoFailureFromTheCommandLine) {
  std::string f32 = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(f32);
  const std::string dir = test::temp_dir();
  const std::string trace = write(dir + "/mem.csv", cli::scenario_memory_csv(512, 3));
  auto r = run_airt({"bench", "--scenario", "memory", "-m", f32, "--trace", trace, "--dwell-s", "0.2", "-t", "1",
                     "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json j(cJSON_Parse(r.out.c_str()));
  ASSERT_TRUE(j && cJSON_GetArraySize(j.get()) == 1) << r.out;
  const cJSON* o = cJSON_GetArrayItem(j.get(), 0);
  EXPECT_GT(cJSON_GetObjectItemCaseSensitive(o, "requests")->valueint, 4) << r.out;
  EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(o, "failed")->valueint, 0) << r.out;
  EXPECT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "shrank"))) << r.out;
  EXPECT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "grew_back"))) << r.out;
}

// The same loop in this process, where allocations are counted: none while the four
// sequences run and the window and KV precision shrink and grow back.
TEST(BenchScenario, MemoryLoopAllocatesNothing) {
  std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok());
  cli::RequestMix mix;
  mix.resubmit = true, mix.prompt = 8, mix.max_tokens = 48;
  engine::EngineConfig c;
  c.n_slots = 4, c.n_ctx = 96, c.prefill_chunk = 8, c.max_window = 0, c.sinks = 4;
  auto e = engine::Engine::create(**m, **tok, c);
  ASSERT_TRUE(e.ok()) << e.error().message;
  governor::SpaceConfig sc;
  sc.windows = {0, 32}, sc.context = 96, sc.sinks = 4;
  sc.kv = {governor::KvPrecision{}, governor::KvPrecision{hal::DType::kQ8_0, hal::DType::kQ8_0}};
  auto space = governor::Space::make(sc);
  ASSERT_TRUE(space.ok());
  auto trace = governor::Trace::parse(cli::scenario_memory_csv(512, 3), "memory");
  ASSERT_TRUE(trace.ok());
  cli::PolicyRun run;
  run.name = "governor", run.governed = true;
  run.config.limits.mem_floor_mb = 512, run.config.limits.dwell_s = 0.2;
  std::vector<double> ppl;
  for (size_t i = 0; i < space->size(); ++i) ppl.push_back(run.quality.figure((*space)[i]).ppl);
  auto r = cli::run_scenario(**e, *trace, *space, ppl, mix, run, [] { return test::alloc_count(); });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->failed, 0);
  EXPECT_GT(r->requests, 4);
  EXPECT_EQ(r->allocations, 0);
  bool small = false;
  for (const cli::ScenarioSample& s : r->samples) small |= s.window > 0 || s.kv_bits < 16;
  EXPECT_TRUE(small) << "the window or the KV precision shrank below the floor";
  EXPECT_TRUE(r->grew_back) << "and both came back with the memory";
}

}  // namespace
}  // namespace airt
