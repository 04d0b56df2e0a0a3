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
