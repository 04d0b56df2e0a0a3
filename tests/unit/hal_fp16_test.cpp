// f16 and bf16 conversions: exact edge cases, every f16 value round-tripped, and random
// f32 values checked against the compiler's own _Float16 conversion where it has one.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>

#include "hal/fp16.h"

namespace airt::hal {
namespace {

uint16_t h(float f) { return fp32_to_fp16(f); }
uint16_t b(float f) { return fp32_to_bf16(f); }
float from_bits(uint32_t u) { return std::bit_cast<float>(u); }

TEST(Fp16, ZerosAndSigns) {
  EXPECT_EQ(h(0.0f), 0x0000);
  EXPECT_EQ(h(-0.0f), 0x8000);
  EXPECT_EQ(std::bit_cast<uint32_t>(fp16_to_fp32(0x8000)), 0x80000000u);
  EXPECT_EQ(h(1.0f), 0x3c00);
  EXPECT_EQ(h(-2.0f), 0xc000);
  EXPECT_EQ(fp16_to_fp32(0x3555), 0.333251953125f);
}

TEST(Fp16, OverflowAndSpecials) {
  EXPECT_EQ(h(65504.0f), 0x7bff);          // largest finite half
  EXPECT_EQ(h(65519.99f), 0x7bff);         // below the halfway point: stays finite
  EXPECT_EQ(h(65520.0f), 0x7c00);          // halfway, ties to even: infinity
  EXPECT_EQ(h(1e10f), 0x7c00);
  EXPECT_EQ(h(-INFINITY), 0xfc00);
  EXPECT_EQ(h(INFINITY), 0x7c00);
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0x7c00)));
  const uint16_t n = h(NAN);
  EXPECT_EQ(n & 0x7c00, 0x7c00);
  EXPECT_NE(n & 0x03ff, 0);
  EXPECT_NE(n & 0x0200, 0);  // quiet
  EXPECT_EQ(h(-NAN) & 0x8000, 0x8000);
  // A signalling f32 NaN whose payload sits in the dropped bits must stay a NaN.
  EXPECT_TRUE(std::isnan(fp16_to_fp32(h(from_bits(0x7f800001u)))));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7e00)));
}

TEST(Fp16, SubnormalsAndTies) {
  EXPECT_EQ(h(0x1p-24f), 0x0001);          // smallest subnormal
  EXPECT_EQ(h(0x1p-25f), 0x0000);          // exactly half of it: ties to even (zero)
  EXPECT_EQ(h(0x1.0002p-25f), 0x0001);     // just above half
  EXPECT_EQ(h(0x1.8p-24f), 0x0002);        // 1.5 units: ties to even (2)
  EXPECT_EQ(h(0x1.4p-23f), 0x0002);        // 2.5 units: ties to even (2)
  EXPECT_EQ(h(1023 * 0x1p-24f), 0x03ff);   // largest subnormal
  EXPECT_EQ(h(0x1p-14f), 0x0400);          // smallest normal
  EXPECT_EQ(h(0x1.ffcp-15f), 0x0400);      // rounds up out of the subnormal range
  EXPECT_EQ(fp16_to_fp32(0x0001), 0x1p-24f);
  EXPECT_EQ(fp16_to_fp32(0x83ff), -1023 * 0x1p-24f);
  EXPECT_EQ(h(1.0f + 0x1p-11f), 0x3c00);   // halfway between 1 and 1+2^-10: even is 1
  EXPECT_EQ(h(1.0f + 0x3p-11f), 0x3c02);   // halfway between odd 0x3c01 and even 0x3c02
  EXPECT_EQ(h(1.0f + 0x1.02p-11f), 0x3c01);  // just above the tie
  EXPECT_EQ(h(1e-30f), 0x0000);
  EXPECT_EQ(h(-1e-30f), 0x8000);
  EXPECT_EQ(h(from_bits(0x00000001u)), 0x0000);  // f32 subnormal
}

TEST(Fp16, EveryHalfRoundTrips) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto v = static_cast<uint16_t>(i);
    const float f = fp16_to_fp32(v);
    if ((v & 0x7c00) == 0x7c00 && (v & 0x3ff)) {
      EXPECT_TRUE(std::isnan(f)) << i;
      EXPECT_TRUE(std::isnan(fp16_to_fp32(h(f)))) << i;
      continue;
    }
    ASSERT_EQ(h(f), v) << "half 0x" << std::hex << i;
  }
}

// GCC 12 knows _Float16 in C++ on x86-64 only; aarch64 has the older __fp16 storage type
// (same IEEE binary16, converted by the FCVT instruction with round to nearest even).
#if defined(__aarch64__)
using CompilerHalf = __fp16;
#define AIRT_COMPILER_HALF 1
#elif defined(__FLT16_MAX__)
using CompilerHalf = _Float16;
#define AIRT_COMPILER_HALF 1
#endif

TEST(Fp16, MatchesCompilerConversion) {
#if defined(AIRT_COMPILER_HALF)
  std::mt19937 rng(7);
  for (int i = 0; i < 2000000; ++i) {
    // Random bit patterns over the whole range, biased towards the half range.
    uint32_t u = rng();
    if (i & 1) u = (u & 0x807fffffu) | ((100u + (u >> 23) % 50u) << 23);
    const float f = from_bits(u);
    if (std::isnan(f)) continue;
    const CompilerHalf ref = static_cast<CompilerHalf>(f);
    ASSERT_EQ(h(f), std::bit_cast<uint16_t>(ref)) << "f32 bits 0x" << std::hex << u;
  }
#else
  GTEST_SKIP() << "compiler has no half type to compare with";
#endif
}

TEST(Bf16, EdgesAndTies) {
  EXPECT_EQ(b(0.0f), 0x0000);
  EXPECT_EQ(b(-0.0f), 0x8000);
  EXPECT_EQ(b(1.0f), 0x3f80);
  EXPECT_EQ(b(from_bits(0x3f808000u)), 0x3f80);  // tie, even below
  EXPECT_EQ(b(from_bits(0x3f818000u)), 0x3f82);  // tie, even above
  EXPECT_EQ(b(from_bits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(b(from_bits(0x7f7fffffu)), 0x7f80);  // largest f32 rounds to inf
  EXPECT_EQ(b(INFINITY), 0x7f80);
  EXPECT_EQ(b(-INFINITY), 0xff80);
  EXPECT_EQ(b(from_bits(0x00008000u)), 0x0000);  // subnormal tie to even
  EXPECT_EQ(b(from_bits(0x00018000u)), 0x0002);
  EXPECT_EQ(b(from_bits(0x00010000u)), 0x0001);  // subnormals are kept, not flushed
  const uint16_t n = b(from_bits(0x7f800001u));  // signalling NaN with low payload only
  EXPECT_TRUE(std::isnan(bf16_to_fp32(n)));
  EXPECT_NE(n & 0x40, 0);
  EXPECT_EQ(bf16_to_fp32(0x4049), 3.140625f);
  for (uint32_t i = 0; i < 65536; ++i) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(i));
    if (std::isnan(f)) continue;
    ASSERT_EQ(b(f), i);
  }
}

}  // namespace
}  // namespace airt::hal
