// airt bench's resource sampler on recorded sysfs trees: a throttled Raspberry Pi 5 gives
// temperature, frequency and the throttled flag; a board without meters gives n/a for
// power, never 0. Peak RSS is read from /proc.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "runtime/cli/bench_sampler.h"

namespace airt::cli {
namespace {

const std::string kFixtures = std::string(AIRT_SOURCE_DIR) + "/tests/fixtures/sysfs";

TEST(BenchSampler, ReadsAThrottledPi) {
  BenchSampler s(kFixtures + "/pi5-throttled", 10);
  const BoardSample now = s.read_now();
  ASSERT_TRUE(now.celsius.has_value());
  EXPECT_DOUBLE_EQ(*now.celsius, 84.85);
  ASSERT_TRUE(now.mhz.has_value());
  EXPECT_DOUBLE_EQ(*now.mhz, 1500);
  EXPECT_TRUE(now.throttled) << "1.5 of 2.4 GHz, and the firmware's flags";
  EXPECT_FALSE(now.watts.has_value()) << "no hwmon meter in this tree";
  // Waits for the background thread (up to 10 s on a loaded machine; no timing asserted).
  for (int i = 0; i < 1000 && s.samples().size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto samples = s.samples();
  EXPECT_GE(samples.size(), 2u) << "the background thread keeps sampling";
  for (size_t i = 1; i < samples.size(); ++i) EXPECT_GE(samples[i].t_s, samples[i - 1].t_s);
  EXPECT_TRUE(s.power_trace().empty()) << "so energy is n/a";
}

TEST(BenchSampler, EmptyTreeHasNoReadings) {
  BenchSampler s(kFixtures + "/does-not-exist", 10);
  const BoardSample now = s.read_now();
  EXPECT_FALSE(now.celsius || now.mhz || now.watts);
  EXPECT_FALSE(now.throttled);
}

TEST(BenchSampler, PeakRss) {
  EXPECT_GT(bench_peak_rss_bytes(), 0u);
  bench_reset_peak_rss();  // may be refused (old kernels); the reading stays valid either way
  EXPECT_GT(bench_peak_rss_bytes(), 0u);
}

}  // namespace
}  // namespace airt::cli
