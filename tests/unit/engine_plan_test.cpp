// Planning pieces: activation placement by lifetime, and the memory budget read from
// /proc/meminfo and cgroup v2 files (a fake root, so every case is reproducible).
#include <gtest/gtest.h>

#include <optional>

#include "governor/sensors/memory.h"

#include <filesystem>
#include <fstream>

#include "runtime/core/arena.h"
#include "runtime/engine/memory_budget.h"
#include "runtime/model/buffer_plan.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

using model::BufferUse;

bool overlap(const BufferUse& a, const BufferUse& b) {
  bool live = a.first <= b.last && b.first <= a.last;
  bool bytes = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
  return live && bytes && a.bytes && b.bytes;
}

TEST(BufferPlan, PeakIsTheLargestLiveSetNotTheSum) {
  // A chain of buffers each live for two steps: at most two are live at once.
  std::vector<BufferUse> b = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}, {1000, 4, 5}};
  size_t total = model::buffer_plan_place(b, 64);
  EXPECT_EQ(total, 2 * 1024u);
  for (size_t i = 0; i < b.size(); ++i)
    for (size_t j = i + 1; j < b.size(); ++j) EXPECT_FALSE(overlap(b[i], b[j])) << i << " " << j;
}

TEST(BufferPlan, RandomLifetimesNeverShareLiveBytes) {
  uint64_t s = 12345;
  auto rnd = [&](uint64_t n) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return (s >> 33) % n;
  };
  for (int round = 0; round < 50; ++round) {
    std::vector<BufferUse> b(2 + rnd(20));
    for (auto& u : b) {
      u.first = int32_t(rnd(12));
      u.last = u.first + int32_t(rnd(5));
      u.bytes = rnd(5000);
    }
    size_t total = model::buffer_plan_place(b, 64);
    size_t sum = 0, peak = 0;
    for (auto& u : b) sum += align_up(u.bytes, 64);
    for (int32_t t = 0; t < 17; ++t) {
      size_t live = 0;
      for (auto& u : b)
        if (u.first <= t && t <= u.last) live += align_up(u.bytes, 64);
      peak = std::max(peak, live);
    }
    EXPECT_LE(total, sum);
    EXPECT_GE(total, peak);
    for (size_t i = 0; i < b.size(); ++i) {
      EXPECT_EQ(b[i].offset % 64, 0u);
      EXPECT_LE(b[i].offset + b[i].bytes, total);
      for (size_t j = i + 1; j < b.size(); ++j) ASSERT_FALSE(overlap(b[i], b[j])) << round;
    }
  }
}

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(MemoryBudget, NinetyPercentOfMemAvailable) {
  std::string root = test::temp_dir() + "/plain";
  write(root + "/proc/meminfo", "MemTotal: 8000000 kB\nMemFree: 100 kB\nMemAvailable: 1048576 kB\n");
  write(root + "/proc/self/cgroup", "0::/\n");
  write(root + "/sys/fs/cgroup/memory.max", "max\n");
  auto mem = governor::read_memory(root);
  ASSERT_TRUE(mem.ok()) << mem.error().message;
  auto b = std::optional(engine::memory_budget_of(mem->headroom(), mem->headroom_source()));
  EXPECT_EQ(b->bytes, (size_t(1) << 30) / 10 * 9);
  EXPECT_NE(b->source.find("MemAvailable"), std::string::npos) << b->source;
}

TEST(MemoryBudget, CgroupLimitOfAnAncestorBinds) {
  std::string root = test::temp_dir() + "/cg";
  write(root + "/proc/meminfo", "MemAvailable: 8388608 kB\n");  // 8 GiB
  write(root + "/proc/self/cgroup", "0::/system.slice/airt.service\n");
  write(root + "/sys/fs/cgroup/system.slice/airt.service/memory.max", "max\n");
  write(root + "/sys/fs/cgroup/system.slice/memory.max", "536870912\n");   // 512 MiB
  write(root + "/sys/fs/cgroup/system.slice/memory.current", "134217728\n");  // 128 MiB used
  auto mem = governor::read_memory(root);
  ASSERT_TRUE(mem.ok()) << mem.error().message;
  auto b = std::optional(engine::memory_budget_of(mem->headroom(), mem->headroom_source()));
  EXPECT_EQ(b->bytes, (size_t(384) << 20) / 10 * 9);
  EXPECT_NE(b->source.find("memory.max"), std::string::npos) << b->source;
}

TEST(MemoryBudget, OverBudgetMessageNamesTheLargestRegions) {
  MemoryPlan p;
  p.add("weights", 300 << 20, RegionKind::kMapped);
  p.add("kv pool", 500 << 20);
  p.add("activations", 20 << 20);
  p.add("logits", 1 << 20);
  EXPECT_TRUE(engine::over_budget_message(p, engine::memory_budget_fixed(1024)).empty());
  std::string msg = engine::over_budget_message(p, engine::memory_budget_fixed(512));
  EXPECT_NE(msg.find("largest regions: kv pool 500.00 MiB, weights 300.00 MiB, activations 20.00 MiB"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("--mem-budget 512"), std::string::npos) << msg;
}

}  // namespace
}  // namespace airt
