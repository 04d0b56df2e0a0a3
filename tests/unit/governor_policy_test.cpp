// The controller on hand-built situations: every acceptance point of the governor's
// policy, deterministic (time is an argument, nothing sleeps).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "governor/governor.h"
#include "tests/support/alloc_counter.h"

namespace airt::governor {
namespace {

using hal::DType;

// Two tiers (q8_0 best, q4_0 faster), four threads; step costs as a profile gives them.
struct Fixture {
  Space space;
  QualityTable quality;
  Profile profile;
  GovernorConfig config;

  explicit Fixture(std::vector<KvPrecision> kv = {KvPrecision{}}, int32_t context = 0) {
    SpaceConfig c;
    c.tiers = {0, 1};
    c.tier_names = {"q8_0", "q4_0"};
    c.kv = std::move(kv);
    c.context = context;
    c.threads = {4};
    c.max_threads = 4;
    space = Space::make(c).value();
    quality.set_tier(0, 8.0);
    quality.set_tier(1, 8.3);
    quality.set_kv_ratio({DType::kQ8_0, DType::kQ8_0}, 1.005);
    quality.set_kv_ratio({DType::kQ4_0, DType::kQ4_0}, 1.03);
    ProfileEntry t0, t1;
    t0.tier = 0, t0.step_ms = 50, t0.decode_ms_per_row = 6, t0.prefill_ms_per_row = 4,
    t0.watts = 6.8;
    t1.tier = 1, t1.step_ms = 27, t1.decode_ms_per_row = 4, t1.prefill_ms_per_row = 2,
    t1.watts = 6.1;
    profile.points = {t0, t1};
  }
};

Snapshot snap_at(double t, double temp = 60, double mhz = 2400) {
  Snapshot s;
  s.t_s = t;
  s.temp_c = temp;
  s.cpu_mhz = mhz;
  s.cpu_max_mhz = 2400;
  s.mem_avail_mb = 4000;
  s.power_w = 6.0;
  return s;
}

RequestState decoding(int tokens, double deadline_ms) {
  RequestState r;
  r.tokens_left = tokens;
  r.ms_left_to_deadline = deadline_ms;
  return r;
}

TEST(Policy, MeetsADeadlineTheBestPointCannot) {
  Fixture f;
  Governor g(f.space, f.quality, &f.profile, f.config);
  ASSERT_EQ(f.space[g.point_index()].tier, 0) << "starts at the best point";
  // 20 tokens in 800 ms: q8_0 needs 20 x 56 = 1120 ms, q4_0 20 x 31 = 620 ms.
  RequestState r = decoding(20, 800);
  const Decision& d = g.decide(snap_at(1), {&r, 1});
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(g.point().tier, 1);
  EXPECT_EQ(d.pressure, Pressure::kDeadline);
  const std::string why = d.reason;
  EXPECT_NE(why.find("deadline: 140% of a request's time left"), std::string::npos) << why;
  EXPECT_NE(why.find("q8_0 -> q4_0, tg 17.9 -> 32.3 t/s predicted"), std::string::npos) << why;
  EXPECT_LE(g.policy().load(g.point_index(), {&r, 1}, 1.0), 1.0);
  ASSERT_EQ(g.events().size(), 1u);
  // The same request at a third of the clock: no point meets it; the closest is kept.
  const Decision& slow = g.decide(snap_at(1.1, 60, 800), {&r, 1});
  EXPECT_FALSE(slow.changed);
  EXPECT_EQ(g.point().tier, 1);
}

TEST(Policy, ReturnsToTheBestPointWhenPressureEnds) {
  Fixture f;
  f.config.limits.dwell_s = 10;
  Governor g(f.space, f.quality, &f.profile, f.config);
  // Heating at 0.5 C/s from 70 C: predicted over the soft 80 C limit 5 s ahead at ~15 s.
  double switched_down = -1, switched_up = -1;
  for (int i = 0; i <= 1200; ++i) {
    const double t = i * 0.05;
    const double temp = t < 28 ? 70 + 0.5 * t : 60;
    const Decision& d = g.decide(snap_at(t, temp), {});
    if (d.changed && d.pressure == Pressure::kThermal) {
      switched_down = t;
      EXPECT_NE(std::string(d.reason).find("> soft 80; q8_0 -> q4_0"), std::string::npos)
          << d.reason;
    }
    if (d.changed && d.pressure == Pressure::kBetter) switched_up = t;
  }
  EXPECT_GT(switched_down, 14.0);
  EXPECT_LT(switched_down, 16.0) << "derated before the soft limit, on the trend";
  EXPECT_GE(switched_up, 28.0) << "back once the board cooled";
  EXPECT_LE(switched_up, switched_down + f.config.limits.dwell_s + 14.0);
  EXPECT_EQ(g.point_index(), g.policy().best_point());
  EXPECT_EQ(g.events().size(), 2u);
}

TEST(Policy, ReturnsToTheBestPointWhenTheDeadlineIsMet) {
  Fixture f;
  f.config.limits.dwell_s = 5;
  Governor g(f.space, f.quality, &f.profile, f.config);
  RequestState tight = decoding(20, 800);
  g.decide(snap_at(0), {&tight, 1});
  EXPECT_EQ(g.point().tier, 1);
  g.decide(snap_at(2), {});
  EXPECT_EQ(g.point().tier, 1) << "the dwell time holds it";
  const Decision& d = g.decide(snap_at(5.5), {});
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.pressure, Pressure::kBetter);
  EXPECT_EQ(g.point().tier, 0);
}

TEST(Policy, MovesUpBackOffWhenDeadlinesKeepPushingDown) {
  Fixture f;
  f.config.limits.dwell_s = 10;
  Governor g(f.space, f.quality, &f.profile, f.config);
  RequestState tight = decoding(20, 800);  // only q4_0 meets it
  std::vector<double> ups;
  double t = 0;
  for (int round = 0; round < 3; ++round) {
    g.decide(snap_at(t), {&tight, 1});
    ASSERT_EQ(g.point().tier, 1);
    // Idle until the governor moves back up, then the next tight request arrives.
    for (t += 0.5; g.point().tier != 0 && t < 500; t += 0.5) g.decide(snap_at(t), {});
    ups.push_back(t - 0.5);
    t += 0.5;
  }
  ASSERT_EQ(ups.size(), 3u);
  EXPECT_DOUBLE_EQ(ups[0], 10.0) << "the first wait is the dwell time";
  EXPECT_NEAR(ups[1] - ups[0], 1.0 + 20.0, 0.6)
      << "pushed down 1 s after moving up: twice the wait";
  EXPECT_NEAR(ups[2] - ups[1], 1.0 + 40.0, 0.6);
}

// The request mix is remembered at admission: an idle moment between requests does not
// make the better point look affordable (the next request would miss at it).
TEST(Policy, AMoveUpMustServeTheNextRequestLikeTheLastAdmitted) {
  Fixture f;
  f.config.limits.dwell_s = 5;
  Governor g(f.space, f.quality, &f.profile, f.config);
  RequestState tight = decoding(20, 800);  // only q4_0 meets it
  ASSERT_TRUE(g.admit(snap_at(0), tight, {}).ok);
  g.decide(snap_at(0), {&tight, 1});
  ASSERT_EQ(g.point().tier, 1);
  for (double t = 0.5; t < kDemandMemoryS; t += 0.5) {
    g.decide(snap_at(t), {});
    ASSERT_EQ(g.point().tier, 1) << "at " << t << " s: moved up while the demand stands";
  }
  // Once the demand is older than the memory, the idle governor moves up.
  bool up = false;
  for (double t = kDemandMemoryS; t < kDemandMemoryS + 6 && !up; t += 0.5)
    up = g.decide(snap_at(t), {}).changed;
  EXPECT_TRUE(up);
  EXPECT_EQ(g.point().tier, 0);
  // A looser request admitted later lets it stay there.
  RequestState loose = decoding(20, 2000);
  ASSERT_TRUE(g.admit(snap_at(40), loose, {}).ok);
  EXPECT_FALSE(g.decide(snap_at(40.5), {&loose, 1}).changed);
}

// A steady stream renews the demand: requests a little looser or tighter than the kept
// one arrive every second for two minutes, and the better point is never taken.
TEST(Policy, AStreamOfSimilarRequestsKeepsTheDemandCurrent) {
  Fixture f;
  f.config.limits.dwell_s = 5;
  Governor g(f.space, f.quality, &f.profile, f.config);
  RequestState tight = decoding(20, 800);
  ASSERT_TRUE(g.admit(snap_at(0), tight, {}).ok);
  g.decide(snap_at(0), {&tight, 1});
  ASSERT_EQ(g.point().tier, 1);
  for (int i = 1; i <= 120; ++i) {
    RequestState r = decoding(20, 812 + (i % 3) * 12);  // 812 .. 836 ms: within 5% looser
    ASSERT_TRUE(g.admit(snap_at(i), r, {}).ok);
    g.decide(snap_at(i + 0.5), {});
    ASSERT_EQ(g.point().tier, 1) << "moved up at " << i << " s while such requests arrive";
  }
}

// Requests that overlap are expected to overlap again: q8_0 serves one such request
// alone with 20% to spare, two together with 11% -- under the 15% a move up needs.
TEST(Policy, AMoveUpMustServeAsManyRequestsAsRanTogether) {
  for (const int together : {1, 2}) {
    Fixture f;
    f.config.limits.dwell_s = 5;
    Governor g(f.space, f.quality, &f.profile, f.config);
    std::vector<RequestState> active;
    for (int i = 0; i < together; ++i) {
      const RequestState r = decoding(20, 1400);
      ASSERT_TRUE(g.admit(snap_at(0), r, active).ok);
      active.push_back(r);
    }
    for (RequestState& r : active) r.ms_left_to_deadline = 700;  // late in their run
    g.decide(snap_at(0.1), active);
    ASSERT_EQ(g.point().tier, 1) << together << " request(s) pushed it down";
    bool up = false;
    for (double t = 0.5; t < 20 && !up; t += 0.5) up = g.decide(snap_at(t), {}).changed;
    EXPECT_EQ(up, together == 1) << together << " request(s) at once were admitted";
  }
}

// A falling clock: the current point is left before the expected request would miss it
// (the trend over the dwell time), not once an active one already does.
TEST(Policy, AFallingClockIsJudgedAheadNotAfter) {
  Fixture f;
  f.config.limits.dwell_s = 10;
  Governor g(f.space, f.quality, &f.profile, f.config);
  // 20 tokens in 1250 ms: q8_0 needs 1120 ms at the full clock (90%), 1250 at 90% of it.
  RequestState r = decoding(20, 1250);
  ASSERT_TRUE(g.admit(snap_at(0), r, {}).ok);
  double down = -1, mhz_at_down = 0;
  for (double t = 0; t < 10 && down < 0; t += 0.5) {
    const double mhz = 2400 - 40 * t;  // -40 MHz/s: 2000 MHz (83%) 10 s later
    const Decision& d = g.decide(snap_at(t, 60, mhz), {&r, 1});
    ASSERT_LE(g.policy().load(d.from, {&r, 1}, mhz / 2400), 1.0) << "no request misses yet";
    if (d.changed) {
      down = t, mhz_at_down = mhz;
      EXPECT_EQ(d.pressure, Pressure::kDeadline);
      EXPECT_NE(std::string(d.reason).find("deadline ahead"), std::string::npos) << d.reason;
    }
  }
  ASSERT_GT(down, 0) << "left q8_0 on the trend";
  EXPECT_EQ(g.point().tier, 1);
  EXPECT_GT(mhz_at_down, 0.9 * 2400) << "before the clock reached the point where it misses";
}

TEST(Policy, DoesNotOscillateOnANoisyTrace) {
  Fixture f;
  f.config.limits.dwell_s = 10;
  Governor g(f.space, f.quality, &f.profile, f.config);
  uint32_t rng = 12345;
  auto noise = [&rng] {  // deterministic, in [-1, 1)
    rng = rng * 1664525u + 1013904223u;
    return double(rng >> 8) / double(1u << 23) - 1.0;
  };
  int switches = 0;
  const double minutes = 5;
  RequestState r =
      decoding(40, 40 * 70.0);  // 70 ms a token: q8_0 needs 56 at full clock, 70 at 80% of it
  for (int i = 0; i < int(minutes * 60 / 0.05); ++i) {
    const double t = i * 0.05;
    // Around the soft limit, a slow +-3 C wave with +-3 C of noise on it, and a clock
    // jittering between 80 and 100%.
    const double temp = 79 + 3 * std::sin(t * 2 * M_PI / 60) + 3 * noise(),
                 mhz = 2400 * (0.9 + 0.1 * noise());
    r.tokens_left = 40 - (i % 40);
    r.ms_left_to_deadline = (40 - (i % 40)) * 70.0;
    if (g.decide(snap_at(t, temp, mhz), {&r, 1}).changed) ++switches;
  }
  std::printf("noisy trace: %d switches in %.0f minutes\n", switches, minutes);
  EXPECT_GT(switches, 0) << "the trace does push it";
  EXPECT_LE(switches / minutes, 6.0) << switches << " switches in " << minutes << " minutes";
}

TEST(Policy, RefusesAnImpossibleDeadlineAtAdmission) {
  Fixture f;
  Governor g(f.space, f.quality, &f.profile, f.config);
  RequestState impossible = decoding(100, 500);  // q4_0 needs 100 x 31 ms
  impossible.prefill_left = 32;
  Admission a = g.admit(snap_at(0), impossible, {});
  EXPECT_FALSE(a.ok);
  EXPECT_STREQ(a.code, "deadline_unmeetable");
  EXPECT_NE(std::string(a.reason).find("the fastest (q4_0) needs"), std::string::npos) << a.reason;
  impossible.best_effort = true;
  EXPECT_TRUE(g.admit(snap_at(0), impossible, {}).ok) << "best effort is never refused for time";
  RequestState fine = decoding(20, 2000);
  fine.prefill_left = 32;
  EXPECT_TRUE(g.admit(snap_at(0), fine, {}).ok);
  RequestState busy[3] = {decoding(50, 10000), decoding(50, 10000), decoding(50, 10000)};
  RequestState tight = decoding(20, 700);  // alone q4_0 takes 620 ms, beside three 860
  EXPECT_TRUE(g.admit(snap_at(0), tight, {}).ok);
  EXPECT_FALSE(g.admit(snap_at(0), tight, busy).ok) << "beside three others each step is slower";
}

TEST(Policy, ShedsAboveTheHardLimit) {
  Fixture f;
  Governor g(f.space, f.quality, &f.profile, f.config);
  RequestState r = decoding(10, 10000);
  const Decision& d = g.decide(snap_at(0, 91), {&r, 1});
  EXPECT_TRUE(d.shed);
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.pressure, Pressure::kHard);
  EXPECT_EQ(g.point().tier, 1) << "the cheapest point";
  EXPECT_NE(std::string(d.reason).find("temp 91.0 C >= hard 90: shedding"), std::string::npos)
      << d.reason;
  Admission a = g.admit(snap_at(0.1, 91), decoding(5, 100000), {});
  EXPECT_FALSE(a.ok);
  EXPECT_STREQ(a.code, "overloaded");
  EXPECT_TRUE(g.decide(snap_at(1, 89), {}).shed) << "inside the band below the hard limit";
  EXPECT_FALSE(g.decide(snap_at(2, 70), {}).shed);
  EXPECT_TRUE(g.admit(snap_at(2, 70), decoding(5, 100000), {}).ok);
}

TEST(Policy, MemoryFloorShrinksKvPrecisionAndGrowsBack) {
  Fixture f(
      {{DType::kF16, DType::kF16}, {DType::kQ8_0, DType::kQ8_0}, {DType::kQ4_0, DType::kQ4_0}},
      2048);
  f.config.limits.mem_floor_mb = 512;
  f.config.limits.dwell_s = 10;
  Governor g(f.space, f.quality, &f.profile, f.config);
  ASSERT_EQ(g.point().kv_k, DType::kF16);
  Snapshot low = snap_at(0);
  low.mem_avail_mb = 400;
  const Decision& d = g.decide(low, {});
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.pressure, Pressure::kMemory);
  EXPECT_EQ(g.point().tier, 0) << "KV precision goes before the weights";
  EXPECT_EQ(g.point().kv_k, DType::kQ8_0);
  EXPECT_NE(std::string(d.reason).find("memory 400 MB < floor 512 MB; kv f16 -> q8_0"),
            std::string::npos)
      << d.reason;
  low.t_s = 1.5;
  g.decide(low, {});
  EXPECT_EQ(g.point().kv_k, DType::kQ4_0)
      << "still short a second later: one more step, no dwell for memory";
  Snapshot back = snap_at(3);
  back.mem_avail_mb = 550;
  g.decide(back, {});
  EXPECT_EQ(g.point().kv_k, DType::kQ4_0) << "inside the band above the floor";
  back.mem_avail_mb = 2000;
  back.t_s = 12;
  g.decide(back, {});
  EXPECT_EQ(g.point().kv_k, DType::kF16);
  EXPECT_EQ(g.point().tier, 0);
}

TEST(Policy, PowerCapExcludesPointsPredictedOverIt) {
  Fixture f;
  f.config.limits.power_cap_w = 6.5;
  Governor g(f.space, f.quality, &f.profile, f.config);
  const Decision& d = g.decide(snap_at(0), {});
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(g.point().tier, 1) << "q8_0 is predicted at 6.8 W";
  EXPECT_EQ(d.pressure, Pressure::kPower);
}

TEST(Policy, DecidingDoesNotAllocate) {
  Fixture f;
  Governor g(f.space, f.quality, &f.profile, f.config);
  RequestState r[2] = {decoding(20, 800), decoding(5, 5000)};
  g.decide(snap_at(0), r);
  test::AllocScope scope;
  for (int i = 0; i < 200; ++i) {
    g.decide(snap_at(i * 0.5, 60 + i * 0.2), r);
    (void)g.admit(snap_at(i * 0.5), r[0], r);
    StepRecord s;
    s.point = g.point();
    s.rows_decode = 2;
    s.wall_ms = 40;
    g.observe(s, snap_at(i * 0.5));
  }
  EXPECT_EQ(scope.count(), 0);
  EXPECT_GT(g.events().total(), 0u);
}

TEST(Events, RingKeepsTheNewestAndRendersJson) {
  Fixture f;
  EventRing ring(2);
  Decision d;
  d.from = 0, d.point = 1, d.pressure = Pressure::kThermal;
  std::snprintf(d.reason, sizeof(d.reason),
                "temp 78.2 C predicted 81.0 in 5 s > soft 80; q8_0 -> q4_0");
  ring.push(1.0, d);
  d.from = 1, d.point = 0, d.pressure = Pressure::kBetter;
  std::snprintf(d.reason, sizeof(d.reason), "back \"quoted\"");
  ring.push(2.0, d);
  ring.push(3.0, d);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.total(), 3u);
  EXPECT_DOUBLE_EQ(ring.at(0).t_s, 2.0);
  EXPECT_DOUBLE_EQ(ring.at(1).t_s, 3.0);
  const std::string json = ring.to_json(f.space);
  EXPECT_EQ(json,
            "{\"total\":3,\"events\":[{\"t_s\":2,\"from\":\"q4_0\",\"to\":\"q8_0\",\"pressure\":"
            "\"better\","
            "\"shed\":false,\"reason\":\"back "
            "\\\"quoted\\\"\"},{\"t_s\":3,\"from\":\"q4_0\",\"to\":\"q8_0\","
            "\"pressure\":\"better\",\"shed\":false,\"reason\":\"back \\\"quoted\\\"\"}]}");
  test::AllocScope scope;
  ring.push(4.0, d);
  EXPECT_EQ(scope.count(), 0);
}

}  // namespace
}  // namespace airt::governor
