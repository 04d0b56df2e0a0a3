// IEEE binary16 (f16) and bfloat16 (bf16) <-> binary32 conversion, portable and exact:
// f32 -> f16/bf16 rounds to nearest, ties to even (what F16C's _cvtss_sh and ggml's
// converters do), keeps signed zeros, produces f16 subnormals, overflows to inf, and
// maps NaN to a quiet NaN of the same sign. Half values travel as uint16_t bit patterns
// so quant blocks and GGUF tensors can be read in place.
#pragma once

#include <bit>
#include <cstdint>

namespace airt::hal {

inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf, nan
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in f32.
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(v));
  }
  // Rebias the exponent from 15 to 127.
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

inline uint16_t fp32_to_fp16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u | static_cast<uint16_t>((a >> 13) & 0x3ffu);  // nan
  // 65520 (0x477ff000) is halfway between 65504 and 65536 and ties to the even neighbour:
  // infinity.
  if (a >= 0x477ff000u) return sign | 0x7c00u;
  if (a >= 0x38800000u) {
    // Normal half: drop 13 mantissa bits with round-to-nearest-even; a carry out of the
    // mantissa correctly bumps the exponent.
    const uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
    return sign | static_cast<uint16_t>((r - 0x38000000u) >> 13);
  }
  // Half subnormal (or zero): the result counts units of 2^-24.
  const uint32_t e = a >> 23;
  const uint32_t shift = 126 - e;  // value = m * 2^(e-150), in units of 2^-24: m >> (126-e)
  if (shift > 24) return sign;     // below 2^-25 (half of the smallest subnormal): zero
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may become 0x400: smallest normal
  return sign | static_cast<uint16_t>(q);
}

inline float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

inline uint16_t fp32_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet nan
  // Round to nearest even on the 16 dropped bits; overflow carries into inf as it should.
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace airt::hal
