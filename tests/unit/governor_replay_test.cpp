#include <gtest/gtest.h>

#include "governor/sensors/replay.h"
#include "governor/sensors/sensors.h"
#include "tests/support/alloc_counter.h"

static const std::string kTraces = std::string(AIRT_SOURCE_DIR) + "/tests/fixtures/traces";

namespace airt::governor {
namespace {

TEST(Trace, InterpolatesLinearlyAndHoldsTheEnds) {
  auto t = Trace::parse("t_s,temp_c,cpu_mhz\n0,50,2400\n10,60,2000\n", "t.csv");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_DOUBLE_EQ(t->at(Quantity::kTemperature, 2.5).value(), 52.5);
  EXPECT_DOUBLE_EQ(t->at(Quantity::kCpuFreq, 5).value(), 2200);
  EXPECT_DOUBLE_EQ(t->at(Quantity::kTemperature, -1).value(), 50);
  EXPECT_DOUBLE_EQ(t->at(Quantity::kTemperature, 99).value(), 60);
  EXPECT_DOUBLE_EQ(t->at(Quantity::kCpuMaxFreq, 5).value(), 2400)
      << "the trace's highest frequency";
  EXPECT_FALSE(t->at(Quantity::kPowerTotal, 5).has_value()) << "no power_w column";
  EXPECT_EQ(t->rows(), 2u);
}

TEST(Trace, ColumnsInAnyOrderEmptyCellsAndComments) {
  auto t = Trace::parse("# a comment\nmem_avail_mb, t_s ,power_w\n100,0,\n\n200,10,5\n300,20,7\n",
                        "t.csv");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_DOUBLE_EQ(t->at(Quantity::kMemAvailable, 5).value(), 150);
  EXPECT_DOUBLE_EQ(t->at(Quantity::kPowerTotal, 0).value(), 5)
      << "unknown at t=0: the first known row holds";
  EXPECT_DOUBLE_EQ(t->at(Quantity::kPowerTotal, 15).value(), 6);
  EXPECT_FALSE(t->has(Quantity::kTemperature));
}

void expect_error(const char* text, const char* needle) {
  auto t = Trace::parse(text, "bad.csv");
  ASSERT_FALSE(t.ok()) << text;
  EXPECT_NE(t.error().message.find(needle), std::string::npos) << t.error().message;
  EXPECT_EQ(t.error().message.rfind("bad.csv: ", 0), 0u) << t.error().message;
}

TEST(Trace, ErrorsNameTheLineAndTheColumn) {
  expect_error("t_s,temp_c\n0,50\n1,hot\n", "line 3, column 2 (temp_c): 'hot' is not a number");
  expect_error("t_s,tmp_c\n0,50\n", "line 1, column 2: unknown column 'tmp_c'");
  expect_error("t_s,temp_c,temp_c\n", "line 1, column 3: repeated column 'temp_c'");
  expect_error("temp_c\n50\n", "line 1: no t_s column");
  expect_error("t_s,temp_c\n0,50\n0,51\n", "line 3, column 1 (t_s): 0 does not come after");
  expect_error("t_s,temp_c\n0,50,1\n", "line 2: 3 cells, the header names 2 columns");
  expect_error("t_s,temp_c\n", "a header but no rows");
  expect_error("", "empty");
  expect_error("t_s,temp_c\nx,50\n", "line 2, column 1 (t_s): 'x' is not a number of seconds");
}

TEST(Trace, MissingFileNamesThePath) {
  auto t = Trace::load(kTraces + "/nope.csv");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("nope.csv"), std::string::npos);
}

TEST(Sensors, ReplayedSnapshotAtTraceTime) {
  auto t = Trace::load(kTraces + "/throttle.csv");
  ASSERT_TRUE(t.ok()) << t.error().message;
  Sensors s = Sensors::replay(std::move(*t));
  EXPECT_TRUE(s.absent().empty());
  Snapshot a = s.read(0);
  EXPECT_DOUBLE_EQ(a.temp_c.value(), 50.0);
  EXPECT_EQ(a.throttled, std::optional<bool>(false));
  Snapshot b = s.read(125);
  EXPECT_DOUBLE_EQ(b.temp_c.value(), 85.0);
  EXPECT_DOUBLE_EQ(b.cpu_mhz.value(), 1500);
  EXPECT_DOUBLE_EQ(b.cpu_max_mhz.value(), 2400);
  EXPECT_DOUBLE_EQ(b.power_w.value(), 7.5);
  EXPECT_DOUBLE_EQ(b.mem_avail_mb.value(), 3000);
  EXPECT_EQ(b.throttled, std::optional<bool>(true));
  EXPECT_FALSE(b.temp_trip_c.has_value());
  test::AllocScope scope;
  for (int i = 0; i < 100; ++i) s.read(i * 2.4);
  EXPECT_EQ(scope.count(), 0);
}

}  // namespace
}  // namespace airt::governor
