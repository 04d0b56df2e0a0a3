#include <unistd.h>

#include <cstdio>
#include <gtest/gtest.h>

#include "runtime/core/arena.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"

namespace airt {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return errorf(Error::kRequestOutOfRange, "value %d: must be > 0", v);
  return v;
}

Result<int> doubled(int v) {
  int x = AIRT_TRY(parse_positive(v));
  return 2 * x;
}

TEST(Result, CarriesValueOrError) {
  auto good = doubled(21);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value(), 42);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Error::kRequestOutOfRange);
  EXPECT_EQ(bad.error().message, "value -1: must be > 0");
  EXPECT_STREQ(error_name(bad.error().code), "request_out_of_range");
}

TEST(Arena, AlignsAndRefusesOverflow) {
  auto arena = Arena::reserve(8192);
  ASSERT_TRUE(arena.ok());
  void* a = arena->alloc(10);
  void* b = arena->alloc(10, 256);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 256, 0u);
  EXPECT_EQ(arena->alloc(1 << 20), nullptr);
  size_t m = arena->mark();
  auto s = arena->alloc_array<float>(16);
  ASSERT_EQ(s.size(), 16u);
  s[3] = 5.0f;
  arena->rewind(m);
  auto t = arena->alloc_array<float>(16);
  EXPECT_EQ(t.data(), s.data());
  EXPECT_EQ(t[3], 0.0f) << "memory reused after rewind is zeroed";
}

// Resident set size of this process from /proc/self/statm, in bytes.
size_t resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? size_t(resident) * size_t(sysconf(_SC_PAGESIZE)) : 0;
}

TEST(Arena, HandsOutPagesWithoutTouchingThem) {
  constexpr size_t kBig = 512u << 20;
  auto arena = Arena::reserve(kBig + 4096);
  ASSERT_TRUE(arena.ok());
  const size_t before = resident_bytes();
  ASSERT_GT(before, 0u) << "/proc/self/statm unreadable";
  uint8_t* p = static_cast<uint8_t*>(arena->alloc(kBig));
  ASSERT_NE(p, nullptr);
  const size_t after = resident_bytes();
  EXPECT_LT(after, before + (16u << 20)) << "alloc() of 512 MiB made " << (after - before) << " bytes resident";
  // Written pages do become resident: the measurement can see them.
  for (size_t i = 0; i < (64u << 20); i += 4096) p[i] = 1;
  EXPECT_GT(resident_bytes(), before + (48u << 20));
}

TEST(MemoryPlan, SumsResidentAndMappedSeparately) {
  MemoryPlan plan;
  plan.add("weights", 1000, RegionKind::kMapped);
  plan.add("kv cache", 100);
  plan.add("activations", 64);
  EXPECT_EQ(plan.mapped_bytes(), 1000u);
  EXPECT_EQ(plan.arena_bytes(), 128u + 64u);
  EXPECT_NE(plan.to_string().find("kv cache"), std::string::npos);
}

}  // namespace
}  // namespace airt
