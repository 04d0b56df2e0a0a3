// What `airt info` reports: system_info() read from /proc and /sys, the bandwidth probe,
// and the command itself (text and JSON, the kernel table it names, bad flags).
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "hal/cpu/kernels.h"
#include "hal/cpu/system_info.h"
#include "hal/cpu/thread_pool.h"
#include "tests/support/test_support.h"

namespace airt::hal {
namespace {

TEST(SystemInfo, SaneValues) {
  const SystemInfo s = system_info();
  EXPECT_FALSE(s.arch.empty());
  EXPECT_GE(s.logical_cpus, 1);
  EXPECT_GE(s.physical_cores, 1);
  EXPECT_LE(s.physical_cores, s.logical_cpus);
  EXPECT_EQ(s.physical_cores, physical_cores());
  EXPECT_GT(s.mem_total, uint64_t(64) << 20);
  EXPECT_LE(s.mem_available, s.mem_total);
  for (const CacheInfo& c : s.caches) {
    EXPECT_GE(c.level, 1);
    EXPECT_LE(c.level, 4);
    EXPECT_GT(c.bytes, 0u);
  }
#if defined(__x86_64__)
  EXPECT_FALSE(s.cpu_model.empty());
  EXPECT_FALSE(s.caches.empty());
#endif
}

TEST(SystemInfo, ReadBandwidthIsPlausible) {
  const double bw = measure_read_bandwidth(uint64_t(64) << 20, 2, 2);
  EXPECT_GT(bw, 1e8);   // even a Pi 4 reads well over 100 MB/s
  EXPECT_LT(bw, 1e13);  // and nothing reads 10 TB/s
  EXPECT_EQ(measure_read_bandwidth(uint64_t(1) << 20, 0, 1), 0.0);
}

TEST(InfoCommand, TextAndJson) {
  auto text = test::run_airt({"info"});
  ASSERT_EQ(text.status, 0) << text.err;
  auto best = kernels_best();
  ASSERT_TRUE(best.ok());
  EXPECT_NE(text.out.find(std::string("kernels:   ") + (*best)->isa), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("cores:"), std::string::npos);
  EXPECT_NE(text.out.find("memory:"), std::string::npos);
  auto json = test::run_airt({"info", "-o", "json", "--bandwidth", "--bw-mib", "32", "-t", "1"});
  ASSERT_EQ(json.status, 0) << json.err;
  EXPECT_NE(json.out.find("\"physical_cores\": " + std::to_string(physical_cores())), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"read_bandwidth_gbs\": "), std::string::npos) << json.out;
  EXPECT_EQ(json.out.front(), '{');
  auto bad = test::run_airt({"info", "-o", "yaml"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("-o must be text or json"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace airt::hal
