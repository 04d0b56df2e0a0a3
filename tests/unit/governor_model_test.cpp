#include <gtest/gtest.h>

#include "governor/model/cost_model.h"
#include "governor/model/ewls.h"
#include "governor/model/profile.h"
#include "governor/model/quality.h"
#include "governor/model/space.h"
#include "governor/model/temperature_trend.h"
#include "tests/support/alloc_counter.h"

static const std::string kDir = std::string(AIRT_SOURCE_DIR) + "/tests/fixtures/governor";

namespace airt::governor {
namespace {

using hal::DType;

Space two_by_two() {
  SpaceConfig c;
  c.tiers = {0, 1};
  c.tier_names = {"q8_0", "q4_0"};
  c.windows = {0, 512};
  c.context = 2048;
  c.kv = {{DType::kF16, DType::kF16}, {DType::kQ8_0, DType::kQ8_0}};
  c.draft_lens = {0, 4};
  c.threads = {4};
  c.max_threads = 4;
  auto s = Space::make(c);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return std::move(*s);
}

TEST(Space, EnumeratesEveryCombinationInOrder) {
  Space s = two_by_two();
  ASSERT_EQ(s.size(), 16u);
  EXPECT_EQ(s[0].tier, 0);
  EXPECT_EQ(s[0].window, 0);
  EXPECT_EQ(s[1].draft_len, 4) << "the last list varies fastest (threads has one value)";
  EXPECT_EQ(s[2].kv_k, DType::kQ8_0);
  EXPECT_EQ(s[4].window, 512);
  EXPECT_EQ(s[4].sinks, 4);
  EXPECT_EQ(s[8].tier, 1);
  EXPECT_EQ(s.find(s[11]).value(), 11u);
  OperatingPoint other;
  other.tier = 7;
  EXPECT_FALSE(s.find(other).has_value());
  EXPECT_DOUBLE_EQ(s.kv_memory_fraction(0), 1.0);
  EXPECT_NEAR(s.kv_memory_fraction(2), 34.0 / 64.0, 1e-12)
      << "q8_0: 34 bytes per 32 elements vs f16's 64";
  EXPECT_NEAR(s.kv_memory_fraction(4), 516.0 / 2048.0, 1e-12) << "window + sinks of the context";
}

TEST(Space, DescribesTheKnobsThatChange) {
  Space s = two_by_two();
  EXPECT_EQ(s.describe(0), "q8_0 window full kv f16 draft off");
  EXPECT_EQ(s.describe(15), "q4_0 window 512 kv q8_0 draft 4");
  char buf[128];
  s.describe_change(0, 10, buf, sizeof(buf));
  EXPECT_STREQ(buf, "q8_0 -> q4_0, kv f16 -> q8_0");
  s.describe_change(0, 10, buf, 8);
  EXPECT_STREQ(buf, "q8_0 ->") << "truncated, still terminated";
  test::AllocScope scope;
  s.describe_change(3, 12, buf, sizeof(buf));
  EXPECT_EQ(scope.count(), 0);
}

TEST(Space, RejectsEmptyListsAndWindowsPastTheContext) {
  SpaceConfig c;
  c.tiers = {};
  EXPECT_FALSE(Space::make(c).ok());
  SpaceConfig w;
  w.context = 256;
  w.windows = {512};
  auto r = Space::make(w);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("window 512"), std::string::npos);
  EXPECT_FALSE(parse_kv_precision("q9_9").ok());
  EXPECT_EQ(kv_precision_name(parse_kv_precision("q8_0/q4_0").value()), "q8_0/q4_0");
}

TEST(Quality, MeasuredCombosWinOverComposedFigures) {
  Space s = two_by_two();
  QualityTable q;
  q.set_tier(0, 8.0);
  q.set_tier(1, 8.4);
  q.set_window_ratio(512, 1.10);
  q.set_kv_ratio({DType::kQ8_0, DType::kQ8_0}, 1.01);
  q.set_combo(1, 512, {DType::kQ8_0, DType::kQ8_0}, 9.0);
  auto f0 = q.figure(s[0]);
  EXPECT_DOUBLE_EQ(f0.ppl, 8.0);
  EXPECT_FALSE(f0.composed);
  auto f6 = q.figure(s[6]);  // tier 0, window 512, q8_0
  EXPECT_DOUBLE_EQ(f6.ppl, 8.0 * 1.10 * 1.01);
  EXPECT_TRUE(f6.composed);
  EXPECT_TRUE(f6.measured);
  EXPECT_DOUBLE_EQ(q.figure(s[14]).ppl, 9.0) << "measured, draft length does not matter";
  EXPECT_DOUBLE_EQ(q.figure(s[1]).ppl, q.figure(s[0]).ppl) << "drafts verify every token";
}

TEST(Quality, PlaceholdersKeepTiersInOrderAndNameThemselves) {
  Space s = two_by_two();
  QualityTable q;
  auto a = q.figure(s[0]), b = q.figure(s[8]), kv = q.figure(s[2]);
  EXPECT_LT(a.ppl, b.ppl);
  EXPECT_LT(a.ppl, kv.ppl) << "an unmeasured KV precision is not free";
  EXPECT_FALSE(a.measured);
}

TEST(Ewls, RecoversALinearCostAndForgetsOldData) {
  Ewls3 f({10, 1, 1}, 0.98, 0.5);
  for (int i = 0; i < 200; ++i)
    f.add({1.0, double(i % 4 + 1), double((i * 7) % 32)},
          40 + 6 * (i % 4 + 1) + 3 * ((i * 7) % 32));
  EXPECT_NEAR(f.theta()[0], 40, 0.1);
  EXPECT_NEAR(f.theta()[1], 6, 0.05);
  EXPECT_NEAR(f.theta()[2], 3, 0.05);
  for (int i = 0; i < 300; ++i) f.add({1.0, double(i % 4 + 1), 0.0}, 80 + 6 * (i % 4 + 1));
  EXPECT_NEAR(f.predict({1, 2, 0}), 92, 0.5) << "the clock halved: the fit follows";
}

TEST(Ewls, UnexcitedDirectionStaysAtItsPrior) {
  Ewls3 f({50, 6, 4}, 0.98, 0.5);
  for (int i = 0; i < 100; ++i) f.add({1.0, 1.0, 0.0}, 60);
  EXPECT_NEAR(f.predict({1, 1, 0}), 60, 0.5);
  EXPECT_NEAR(f.theta()[2], 4, 1e-9)
      << "no prompt rows seen: the prefill cost is still the prior's";
}

TEST(Profile, ParsesTheFixtureAndRoundTrips) {
  auto p = load_profile(kDir + "/profile.json");
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->points.size(), 3u);
  OperatingPoint q8kv;
  q8kv.kv_k = q8kv.kv_v = DType::kQ8_0;
  EXPECT_DOUBLE_EQ(p->find(q8kv)->step_ms, 47.0) << "the entry naming more keys wins";
  OperatingPoint t0;
  EXPECT_DOUBLE_EQ(p->find(t0)->watts.value(), 6.8);
  OperatingPoint t5;
  t5.tier = 5;
  EXPECT_EQ(p->find(t5), nullptr);
  auto again = parse_profile(profile_to_json(*p), "again");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->points.size(), 3u);
  EXPECT_DOUBLE_EQ(again->points[1].decode_ms_per_row, 5.0);
  EXPECT_EQ(kv_precision_name(*again->points[1].kv), "q8_0");
}

TEST(Profile, ErrorsNameTheEntryAndTheKey) {
  auto bad = [](const char* json, const char* needle) {
    auto p = parse_profile(json, "p.json");
    ASSERT_FALSE(p.ok()) << json;
    EXPECT_NE(p.error().message.find(needle), std::string::npos) << p.error().message;
  };
  bad("[]", "p.json: not a JSON object");
  bad(R"({"format":"x","version":1,"points":[]})", "write one with airt bench --calibrate");
  bad(R"({"format":"airt-latency-profile","version":2,"points":[]})", "version 2");
  bad(R"({"format":"airt-latency-profile","version":1,"points":[{"step_ms":1,"decode_ms_per_row":1}]})",
      "p.json: points[0]: no prefill_ms_per_row");
  bad(R"({"format":"airt-latency-profile","version":1,"points":[{},{"step_ms":-1}]})",
      "points[0]: no step_ms");
  bad(R"({"format":"airt-latency-profile","version":1,"points":[{"kv":"q3","step_ms":1,"decode_ms_per_row":1,"prefill_ms_per_row":1}]})",
      "points[0].kv: KV precision 'q3'");
  bad(R"({"format":"airt-latency-profile","version":1,"points":[{"tier":1.5,"step_ms":1,"decode_ms_per_row":1,"prefill_ms_per_row":1}]})",
      "points[0].tier: expected a whole number");
}

TEST(Profile, WindowAndKvRatiosRoundTripAndMakeTheFiguresMeasured) {
  const char* json = R"({"format":"airt-latency-profile","version":1,"tier_perplexity":[8.0],
    "window_ratio":[{"window":64,"ratio":1.25}],"kv_ratio":[{"kv":"q8_0","ratio":1.01}],"points":[]})";
  auto p = parse_profile(json, "p.json");
  ASSERT_TRUE(p.ok()) << p.error().message;
  auto again = parse_profile(profile_to_json(*p), "again");
  ASSERT_TRUE(again.ok()) << again.error().message;
  ASSERT_EQ(again->window_ratio.size(), 1u);
  EXPECT_EQ(again->window_ratio[0].window, 64);
  EXPECT_DOUBLE_EQ(again->window_ratio[0].ratio, 1.25);
  ASSERT_EQ(again->kv_ratio.size(), 1u);
  EXPECT_EQ(kv_precision_name(again->kv_ratio[0].kv), "q8_0");
  EXPECT_DOUBLE_EQ(again->kv_ratio[0].ratio, 1.01);

  QualityTable q;
  profile_quality(*again, q);
  OperatingPoint p0;
  p0.window = 64;
  p0.kv_k = p0.kv_v = DType::kQ8_0;
  const QualityTable::Figure f = q.figure(p0);
  EXPECT_TRUE(f.measured) << "tier, window and KV figures all measured";
  EXPECT_TRUE(f.composed);
  EXPECT_NEAR(f.ppl, 8.0 * 1.25 * 1.01, 1e-9);
  OperatingPoint q4 = p0;
  q4.kv_k = q4.kv_v = DType::kQ4_0;
  EXPECT_FALSE(q.figure(q4).measured) << "q4_0 KV was not measured: a placeholder";

  auto old = parse_profile(R"({"format":"airt-latency-profile","version":1,"points":[]})", "old.json");
  ASSERT_TRUE(old.ok()) << "a profile without the keys still loads";
  EXPECT_TRUE(old->window_ratio.empty() && old->kv_ratio.empty());
}

TEST(Profile, BadRatioEntriesAreNamed) {
  auto bad = [](const char* keys, const char* needle) {
    const std::string json =
        std::string(R"({"format":"airt-latency-profile","version":1,"points":[],)") + keys + "}";
    auto p = parse_profile(json, "p.json");
    ASSERT_FALSE(p.ok()) << json;
    EXPECT_NE(p.error().message.find(needle), std::string::npos) << p.error().message;
  };
  bad(R"("window_ratio":{})", "p.json: window_ratio: expected an array");
  bad(R"("window_ratio":[{"window":64,"ratio":1.1},{"window":32,"ratio":0}])", "window_ratio[1].ratio");
  bad(R"("window_ratio":[{"ratio":1.1}])", "window_ratio[0].window");
  bad(R"("kv_ratio":[{"kv":"q3","ratio":1.1}])", "kv_ratio[0].kv: KV precision 'q3'");
  bad(R"("kv_ratio":[{"kv":"q8_0"}])", "kv_ratio[0].ratio");
  bad(R"("kv_ratio":[3])", "kv_ratio[0]: expected an object");
}

TEST(CostModel, SeededFromTheProfileCorrectedByTheClock) {
  Space s = two_by_two();
  auto p = load_profile(kDir + "/profile.json");
  ASSERT_TRUE(p.ok());
  CostModel m(s, &*p);
  EXPECT_DOUBLE_EQ(m.step_ms(0, 1, 0, 1.0), 48.0 + 5.5);
  EXPECT_DOUBLE_EQ(m.step_ms(0, 1, 10, 1.0), 48.0 + 5.5 + 39.0);
  EXPECT_DOUBLE_EQ(m.step_ms(0, 1, 0, 0.5), 2 * (48.0 + 5.5)) << "half the clock, twice the time";
  EXPECT_DOUBLE_EQ(m.step_ms(2, 1, 0, 1.0), 47.0 + 5.0);
  EXPECT_DOUBLE_EQ(m.step_ms(8, 1, 0, 1.0), 27.0 + 4.0);
  EXPECT_DOUBLE_EQ(m.watts(0, 1).value(), 6.8);
  EXPECT_FALSE(m.watts(2, 1).has_value()) << "no watts in that entry and none observed";
  // draft 4: 5 rows per sequence, 1 + .7 + .49 + .343 + .2401 tokens per step
  EXPECT_NEAR(m.tokens_per_step(1), 2.7731, 1e-4);
  EXPECT_NEAR(m.decode_ms_per_token(1, 1, 1.0), (48.0 + 5 * 5.5) / 2.7731, 1e-3);
}

TEST(CostModel, LearnsFromStepRecordsAtTheClockTheyRanAt) {
  Space s = two_by_two();
  CostModel m(s, nullptr);
  const double before = m.step_ms(8, 2, 0, 1.0);
  test::AllocScope scope;
  for (int i = 0; i < 300; ++i) {
    StepRecord r;
    r.point = s[8];
    r.rows_decode = 1 + i % 3;
    r.rows_prefill = (i % 5 == 0) ? 64 : 0;
    const double at_max = 20.0 + 3.0 * r.rows_decode + 1.0 * r.rows_prefill;
    r.wall_ms = float(at_max / 0.625);  // ran at 1500 of 2400 MHz
    ASSERT_TRUE(m.observe(r, 0.625, 5.0 + r.rows_decode));
  }
  EXPECT_EQ(scope.count(), 0);
  EXPECT_NE(before, m.step_ms(8, 2, 0, 1.0));
  EXPECT_NEAR(m.step_ms(8, 2, 0, 1.0), 26.0, 0.2) << "stored at the maximum clock";
  EXPECT_NEAR(m.step_ms(8, 2, 0, 0.625), 26.0 / 0.625, 0.4);
  EXPECT_NEAR(m.step_ms(8, 1, 64, 1.0), 87.0, 0.5);
  EXPECT_NEAR(m.watts(8, 2).value(), 7.0, 0.1);
  StepRecord foreign;
  foreign.point.tier = 9;
  foreign.wall_ms = 1;
  EXPECT_FALSE(m.observe(foreign, 1.0, std::nullopt));
}

TEST(CostModel, DefaultsOrderTiersThreadsAndDrafts) {
  SpaceConfig c;
  c.tiers = {0, 1};
  c.threads = {2, 4};
  c.max_threads = 4;
  Space s = Space::make(c).value();
  CostModel m(s, nullptr);
  EXPECT_GT(m.decode_ms_per_token(1, 1, 1), m.decode_ms_per_token(3, 1, 1))
      << "tier 0 at 4 threads vs tier 1 at 4";
  EXPECT_GT(m.decode_ms_per_token(0, 1, 1), m.decode_ms_per_token(1, 1, 1))
      << "2 threads slower than 4";
}

TEST(TemperatureTrend, SlopeOfTheLastSecondsPredictsAhead) {
  TemperatureTrend t(10.0, 64);
  EXPECT_FALSE(t.predict(5).has_value());
  for (int i = 0; i <= 40; ++i) t.add(i * 0.5, 70.0 + 0.2 * i * 0.5);  // 0.2 C/s
  EXPECT_NEAR(t.slope().value(), 0.2, 1e-9);
  EXPECT_NEAR(t.predict(5).value(), 74.0 + 1.0, 1e-9);
  for (int i = 41; i <= 80; ++i)
    t.add(i * 0.5, 74.0);  // flat for 20 s: the old slope is out of the window
  EXPECT_NEAR(t.slope().value(), 0.0, 1e-9);
  for (int i = 81; i <= 120; ++i) t.add(i * 0.5, 74.0 - 0.5 * (i - 80) * 0.5);
  EXPECT_LT(t.slope().value(), 0);
  EXPECT_DOUBLE_EQ(t.predict(5).value(), t.latest().value())
      << "a cooling trend never lowers the prediction";
  TemperatureTrend two(10.0, 8);
  two.add(0, 50);
  two.add(0.1, 60);
  EXPECT_FALSE(two.slope().has_value());
  EXPECT_DOUBLE_EQ(two.predict(5).value(), 60) << "no fit yet: the latest sample";
}

TEST(TemperatureTrend, TheFitSmoothsANoisySensor) {
  TemperatureTrend t(10.0, 256);
  for (int i = 0; i < 200; ++i) t.add(i * 0.05, 80.0 + (i % 2 ? 3.0 : -3.0));
  EXPECT_NEAR(t.predict(5).value(), 80.0, 0.3);
}

}  // namespace
}  // namespace airt::governor
