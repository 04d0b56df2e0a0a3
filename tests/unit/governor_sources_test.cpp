// Every sensor source on the recorded trees in tests/fixtures/sysfs: a Raspberry Pi 5, a
// Jetson Orin with an INA3221 (three rails), a laptop's batteries, a board with nothing.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "governor/sensors/board.h"
#include "governor/sensors/cpu.h"
#include "governor/sensors/libsensors.h"
#include "governor/sensors/memory_source.h"
#include "governor/sensors/power.h"
#include "governor/sensors/sensors.h"
#include "governor/sensors/thermal.h"
#include "tests/support/alloc_counter.h"

static const std::string kFixtures = std::string(AIRT_SOURCE_DIR) + "/tests/fixtures/sysfs";

namespace airt::governor {
namespace {

std::vector<Sample> read_all(Source& s, double t = 1.5) {
  std::vector<Sample> out(s.capacity());
  out.resize(s.read(t, out));
  return out;
}

const Sample* find(const std::vector<Sample>& v, std::string_view name, Quantity q) {
  for (const Sample& s : v) {
    if (s.name == name && s.quantity == q) return &s;
  }
  return nullptr;
}

TEST(ThermalSource, Pi5ZonesWithTripPointsFanStepsAreNotLimits) {
  ThermalSource src(kFixtures + "/pi5-warm");
  ASSERT_TRUE(src.absent().empty());
  auto v = read_all(src);
  const Sample* cpu = find(v, "cpu-thermal", Quantity::kTemperature);
  ASSERT_NE(cpu, nullptr);
  EXPECT_DOUBLE_EQ(cpu->value, 71.45);
  EXPECT_STREQ(cpu->unit, "C");
  EXPECT_DOUBLE_EQ(cpu->t_s, 1.5);
  ASSERT_EQ(src.zones()[0].trips.size(), 4u);
  EXPECT_EQ(src.zones()[0].trips[1].type, "active");
  const Sample* trip = find(v, "cpu-thermal", Quantity::kTripPoint);
  ASSERT_NE(trip, nullptr);
  EXPECT_DOUBLE_EQ(trip->value, 85.0)
      << "passive 85 below critical 110; active 50/60 are fan steps";
  EXPECT_EQ(find(v, "gpu-thermal", Quantity::kTripPoint), nullptr)
      << "a zone without trips has no limit";
}

TEST(ThermalSource, JetsonLowestLimitOverZones) {
  std::vector<std::unique_ptr<Source>> v;
  v.push_back(std::make_unique<ThermalSource>(kFixtures + "/jetson-orin"));
  Sensors sensors(std::move(v));
  Snapshot snap = sensors.read(0);
  EXPECT_DOUBLE_EQ(snap.temp_c.value_or(0), 49.25) << "tj-thermal is the hottest";
  EXPECT_DOUBLE_EQ(snap.temp_trip_c.value_or(0), 95.5) << "tj-thermal's hot trip";
}

TEST(BoardSensors, ReadBoardKeepsItsFieldsAndAddsTrips) {
  BoardReading r = read_board(kFixtures + "/pi5-warm");
  ASSERT_EQ(r.zones.size(), 2u);
  EXPECT_DOUBLE_EQ(r.max_celsius.value_or(0), 71.45);
  EXPECT_DOUBLE_EQ(r.power_watts.value_or(0), 5.0);
  EXPECT_DOUBLE_EQ(r.limit_celsius.value_or(0), 85.0);
  EXPECT_EQ(r.zones[0].trips.size(), 4u);
  BoardReading j = read_board(kFixtures + "/jetson-orin");
  EXPECT_DOUBLE_EQ(j.power_watts.value_or(0), 7.0)
      << "VDD_IN alone: the other rails are part of it";
}

TEST(PowerSource, JetsonIna3221RailsNamedFromLabels) {
  PowerSource src(kFixtures + "/jetson-orin");
  ASSERT_TRUE(src.absent().empty());
  auto v = read_all(src);
  ASSERT_EQ(v.size(), 4u) << "3 rails + the total; in7 has no current, so it is not a rail";
  EXPECT_DOUBLE_EQ(find(v, "VDD_IN", Quantity::kPower)->value, 7.0);
  EXPECT_DOUBLE_EQ(find(v, "VDD_CPU_GPU_CV", Quantity::kPower)->value, 1.5);
  EXPECT_DOUBLE_EQ(find(v, "VDD_SOC", Quantity::kPower)->value, 2.0);
  const Sample* total = find(v, "total", Quantity::kPowerTotal);
  ASSERT_NE(total, nullptr);
  EXPECT_DOUBLE_EQ(total->value, 7.0);
  EXPECT_STREQ(total->unit, "W");
}

TEST(PowerSource, HwmonPowerInputsSummedWithoutATotalRail) {
  PowerSource src(kFixtures + "/pi5-warm");
  auto v = read_all(src);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_NE(find(v, "ina3221 power1", Quantity::kPower), nullptr)
      << "no label: chip name and input";
  EXPECT_DOUBLE_EQ(find(v, "total", Quantity::kPowerTotal)->value, 5.0);
}

TEST(PowerSource, PowerSupplyPowerNowOrVoltageTimesCurrent) {
  PowerSource src(kFixtures + "/laptop-battery");
  auto v = read_all(src);
  EXPECT_DOUBLE_EQ(find(v, "BAT0", Quantity::kPower)->value, 9.0) << "12 V x 0.75 A discharging";
  EXPECT_DOUBLE_EQ(find(v, "BAT1", Quantity::kPower)->value, 4.5);
  EXPECT_EQ(find(v, "AC", Quantity::kPower), nullptr);
  EXPECT_DOUBLE_EQ(find(v, "total", Quantity::kPowerTotal)->value, 13.5);
}

TEST(MemorySource, CgroupAllowanceBindsBeforeMemAvailable) {
  MemorySource src(kFixtures + "/cgroup-limited");
  ASSERT_TRUE(src.absent().empty());
  auto v = read_all(src);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_DOUBLE_EQ(v[0].value, 768.0) << "1 GiB memory.max less 256 MiB memory.current";
  EXPECT_EQ(v[0].name, "cgroup memory.max less memory.current");
  EXPECT_EQ(v[0].quantity, Quantity::kMemAvailable);
  MemorySource jetson(kFixtures + "/jetson-orin");
  auto j = read_all(jetson);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_DOUBLE_EQ(j[0].value, 12288.0);
  EXPECT_EQ(j[0].name, "MemAvailable");
}

TEST(CpuSource, JetsonBelowMaxReadsThrottled) {
  CpuSource src(kFixtures + "/jetson-orin");
  auto v = read_all(src);
  ASSERT_EQ(v.size(), 2u) << "no Pi firmware flags on a Jetson";
  EXPECT_DOUBLE_EQ(v[0].value, 1728.0);
  EXPECT_DOUBLE_EQ(v[1].value, 2201.6);
  EXPECT_TRUE(src.reading().throttled());
}

TEST(Sensors, BareBoardReportsEveryAbsentSourceOnceAndReadsNothing) {
  Sensors s = Sensors::live(kFixtures + "/bare");
  EXPECT_TRUE(s.sources().empty());
  ASSERT_EQ(s.absent().size(), 5u);
  EXPECT_NE(s.absent()[0].find("thermal: no thermal zones under"), std::string::npos)
      << s.absent()[0];
  EXPECT_NE(s.absent()[1].find("libsensors"), std::string::npos);
  EXPECT_NE(s.absent()[2].find("power: no power meter"), std::string::npos);
  EXPECT_NE(s.absent()[3].find("/proc/meminfo"), std::string::npos) << s.absent()[3];
  EXPECT_NE(s.absent()[4].find("cpu: no cpufreq"), std::string::npos);
  Snapshot snap = s.read(3.0);
  EXPECT_EQ(snap.t_s, 3.0);
  EXPECT_FALSE(snap.temp_c || snap.power_w || snap.mem_avail_mb || snap.cpu_mhz || snap.throttled);
}

TEST(Sensors, JetsonSnapshotFromEverySource) {
  Sensors s = Sensors::live(kFixtures + "/jetson-orin");
  Snapshot snap = s.read(0);
  EXPECT_DOUBLE_EQ(snap.temp_c.value_or(0), 49.25);
  EXPECT_DOUBLE_EQ(snap.power_w.value_or(0), 7.0);
  EXPECT_DOUBLE_EQ(snap.mem_avail_mb.value_or(0), 12288.0);
  EXPECT_DOUBLE_EQ(snap.cpu_mhz.value_or(0), 1728.0);
  EXPECT_DOUBLE_EQ(snap.cpu_max_mhz.value_or(0), 2201.6);
  EXPECT_EQ(snap.throttled, std::optional<bool>(true));
  EXPECT_EQ(s.last_samples().size(), 6u + 4u + 1u + 2u)
      << "3 zones and their trips, 3 rails + total, memory, 2 cpu";
}

TEST(Sensors, Pi5FirmwareFlagsReachTheSnapshot) {
  Sensors s = Sensors::live(kFixtures + "/pi5-throttled");
  Snapshot snap = s.read(0);
  EXPECT_EQ(snap.throttled_flags.value_or(0), 0x50005u);
  EXPECT_EQ(snap.throttled, std::optional<bool>(true));
  EXPECT_DOUBLE_EQ(snap.temp_c.value_or(0), 84.85);
}

TEST(Sensors, ReadingDoesNotAllocate) {
  Sensors s = Sensors::live(kFixtures + "/jetson-orin");
  s.read(0);
  test::AllocScope scope;
  for (int i = 0; i < 10; ++i) s.read(i);
  EXPECT_EQ(scope.count(), 0);
}

TEST(LibsensorsSource, FixtureRootIsAbsentLiveNeverFails) {
  LibsensorsSource fixture(kFixtures + "/pi5-warm");
  EXPECT_FALSE(fixture.absent().empty());
  LibsensorsSource live;
  auto v = read_all(live);
  for (const Sample& x : v) EXPECT_EQ(x.quantity, Quantity::kTemperature);
}

}  // namespace
}  // namespace airt::governor
