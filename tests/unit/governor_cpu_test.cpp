#include <gtest/gtest.h>

#include "governor/sensors/cpu.h"

static const std::string kFixtures = std::string(AIRT_SOURCE_DIR) + "/tests/fixtures/sysfs";

namespace airt::governor {
namespace {

TEST(CpuSensor, Pi5AtFullSpeedIsNotThrottled) {
  CpuReading r = read_cpu(kFixtures + "/pi5-warm");
  ASSERT_TRUE(r.cur_mhz.has_value());
  ASSERT_TRUE(r.max_mhz.has_value());
  EXPECT_DOUBLE_EQ(*r.cur_mhz, 2400.0) << "the fastest core; cpufreq/policy0 is not a cpu";
  EXPECT_DOUBLE_EQ(*r.max_mhz, 2400.0);
  ASSERT_TRUE(r.throttled_flags.has_value());
  EXPECT_EQ(*r.throttled_flags, 0u);
  EXPECT_FALSE(r.throttled()) << "one idle core at 1500 MHz is not throttling";
}

TEST(CpuSensor, Pi5ThrottledByFrequencyAndFirmwareFlags) {
  CpuReading r = read_cpu(kFixtures + "/pi5-throttled");
  EXPECT_DOUBLE_EQ(r.cur_mhz.value_or(0), 1500.0);
  EXPECT_DOUBLE_EQ(r.max_mhz.value_or(0), 2400.0);
  ASSERT_TRUE(r.throttled_flags.has_value()) << "found under the Pi 5's soc@107c000000 node";
  EXPECT_EQ(*r.throttled_flags, 0x50005u);
  EXPECT_TRUE(*r.throttled_flags & kPiUnderVoltage);
  EXPECT_TRUE(*r.throttled_flags & (kPiThrottled << kPiSinceBootShift));
  EXPECT_TRUE(r.throttled());
}

TEST(CpuSensor, BoardWithoutCpufreqGivesEmptyReading) {
  CpuReading r = read_cpu(kFixtures + "/cgroup-limited");
  EXPECT_FALSE(r.cur_mhz.has_value());
  EXPECT_FALSE(r.max_mhz.has_value());
  EXPECT_FALSE(r.throttled_flags.has_value());
  EXPECT_FALSE(r.throttled());
}

TEST(CpuSensor, ThrottledUsesTheNowBitsOnly) {
  CpuReading r;
  r.cur_mhz = 2400;
  r.max_mhz = 2400;
  r.throttled_flags = kPiSoftTempLimit | (kPiFreqCapped << kPiSinceBootShift);
  EXPECT_FALSE(r.throttled()) << "soft temperature limit and past capping do not slow the cores now";
  r.throttled_flags = kPiFreqCapped;
  EXPECT_TRUE(r.throttled());
  r.throttled_flags = std::nullopt;
  r.cur_mhz = 0.97 * 2400 - 1;
  EXPECT_TRUE(r.throttled());
  r.cur_mhz = 0.97 * 2400;
  EXPECT_FALSE(r.throttled());
}

TEST(CpuSensor, LiveSystemNeverFails) {
  CpuReading r = read_cpu();
  if (r.cur_mhz && r.max_mhz) {
    EXPECT_GT(*r.max_mhz, 0);
  }
}

}  // namespace
}  // namespace airt::governor
