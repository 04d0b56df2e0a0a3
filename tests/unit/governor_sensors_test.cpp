#include <gtest/gtest.h>

#include "governor/sensors/board.h"
#include "governor/sensors/memory.h"

static const std::string kFixtures = std::string(AIRT_SOURCE_DIR) + "/tests/fixtures/sysfs";

namespace airt::governor {
namespace {

TEST(MemorySensor, ReadsMeminfoCgroupLimitsAndPressure) {
  auto r = read_memory(kFixtures + "/cgroup-limited");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->mem_total, 3884376ull * 1024);
  EXPECT_EQ(r->mem_available, 2811232ull * 1024);
  EXPECT_EQ(r->cgroup_path, "/system.slice/airt.service");
  ASSERT_TRUE(r->cgroup_max.has_value());
  EXPECT_EQ(*r->cgroup_max, 1073741824ull) << "the tightest limit on the way to the root binds";
  EXPECT_EQ(r->cgroup_current.value_or(0), 268435456ull);
  EXPECT_DOUBLE_EQ(r->psi_some_avg10.value_or(-1), 1.5);
  EXPECT_EQ(r->allowance(), 1073741824ull);
  EXPECT_EQ(r->headroom(), 1073741824ull - 268435456ull);
}

TEST(MemorySensor, MissingMeminfoIsAnErrorNamingThePath) {
  auto r = read_memory(kFixtures + "/does-not-exist");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/proc/meminfo"), std::string::npos);
}

TEST(MemorySensor, LiveSystemGivesPlausibleNumbers) {
  auto r = read_memory();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GT(r->mem_total, 0u);
  EXPECT_LE(r->mem_available, r->mem_total);
  EXPECT_GT(r->allowance(), 0u);
}

}  // namespace
}  // namespace airt::governor

namespace airt::governor {
namespace {

TEST(BoardSensors, ThermalZonesAndHwmonPower) {
  BoardReading r = read_board(kFixtures + "/pi5-warm");
  ASSERT_EQ(r.zones.size(), 2u);
  ASSERT_TRUE(r.max_celsius.has_value());
  EXPECT_DOUBLE_EQ(*r.max_celsius, 71.45);
  ASSERT_TRUE(r.power_watts.has_value());
  EXPECT_DOUBLE_EQ(*r.power_watts, 5.0) << "power1 + power2, microwatts; in1 (a voltage) is not power";
}

TEST(BoardSensors, NoSensorsGivesEmptyReadings) {
  BoardReading r = read_board(kFixtures + "/cgroup-limited");
  EXPECT_TRUE(r.zones.empty());
  EXPECT_FALSE(r.max_celsius.has_value());
  EXPECT_FALSE(r.power_watts.has_value());
}

}  // namespace
}  // namespace airt::governor
