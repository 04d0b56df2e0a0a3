// airt bench's arithmetic on recorded timings: mean, sample stdev, percentiles, gaps and
// energy from a power trace (the numbers are worked by hand in the comments).
#include <gtest/gtest.h>

#include <vector>

#include "runtime/cli/bench_stats.h"

namespace airt::cli {
namespace {

TEST(BenchStats, MeanAndSampleStdev) {
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(bench_mean(v), 5.0);
  // Squared deviations sum to 32; over n - 1 = 7: sqrt(32 / 7).
  EXPECT_NEAR(bench_stdev(v), 2.138089935299395, 1e-12);
  EXPECT_EQ(bench_mean({}), 0);
  const std::vector<double> one = {3.5};
  EXPECT_EQ(bench_stdev(one), 0) << "one repetition has no spread";
}

TEST(BenchStats, PercentilesInterpolateBetweenRanks) {
  const std::vector<double> v = {4, 1, 3, 2};  // order does not matter
  EXPECT_DOUBLE_EQ(*bench_percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(*bench_percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(*bench_percentile(v, 100), 4);
  // rank 0.9 * 3 = 2.7: 3 + 0.7 * (4 - 3).
  EXPECT_DOUBLE_EQ(*bench_percentile(v, 90), 3.7);
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_NEAR(*bench_percentile(hundred, 99), 99.01, 1e-9);
  EXPECT_FALSE(bench_percentile({}, 50).has_value()) << "no gaps is n/a, not 0";
  EXPECT_DOUBLE_EQ(*bench_percentile({7}, 99), 7);
}

TEST(BenchStats, GapsBetweenTokenTimestamps) {
  const std::vector<int64_t> ns = {1'000'000, 3'000'000, 3'500'000, 10'000'000};
  std::vector<double> gaps;
  bench_gaps_ms(ns, gaps);
  ASSERT_EQ(gaps.size(), 3u);
  EXPECT_DOUBLE_EQ(gaps[0], 2.0);
  EXPECT_DOUBLE_EQ(gaps[1], 0.5);
  EXPECT_DOUBLE_EQ(gaps[2], 6.5);
  bench_gaps_ms(std::vector<int64_t>{5}, gaps);
  EXPECT_EQ(gaps.size(), 3u) << "one token has no gap";
}

TEST(BenchStats, EnergyIntegratesThePowerTrace) {
  // 2 W at t=0 rising linearly to 4 W at t=2, then flat.
  const std::vector<PowerSample> tr = {{0, 2}, {1, 3}, {2, 4}};
  EXPECT_NEAR(*bench_energy_joules(tr, 0, 2), 6.0, 1e-12);       // trapezoid (2 + 4) / 2 * 2
  EXPECT_NEAR(*bench_energy_joules(tr, 0.5, 1.5), 3.0, 1e-12);   // 2.5 .. 3.5 W over 1 s
  EXPECT_NEAR(*bench_energy_joules(tr, 0.25, 0.75), 1.25, 1e-12);  // between two samples
  EXPECT_NEAR(*bench_energy_joules(tr, 2, 5), 12.0, 1e-12);      // held at 4 W after the last
  EXPECT_NEAR(*bench_energy_joules(tr, -1, 0), 2.0, 1e-12);      // held at 2 W before the first
  EXPECT_EQ(*bench_energy_joules(tr, 1, 1), 0.0);
  // One sample: a constant.
  EXPECT_NEAR(*bench_energy_joules(std::vector<PowerSample>{{3, 5}}, 0, 2), 10.0, 1e-12);
  EXPECT_FALSE(bench_energy_joules({}, 0, 1).has_value()) << "no meter is n/a, never 0 J";
  // Energy per token: 6 J over 120 tokens.
  EXPECT_NEAR(*bench_energy_joules(tr, 0, 2) / 120, 0.05, 1e-12);
}

}  // namespace
}  // namespace airt::cli
