// Kernel bodies shared by the two aarch64 variants, parameterised by the instruction that
// sums int8 products into int32 lanes: neon/neon.cpp (Armv8-A: widening multiplies) and
// dotprod/dotprod.cpp (Armv8.2-A: SDOT). Everything here has internal linkage on purpose:
// each including file gets its own copy compiled with its own -march, so no dotprod code
// can end up behind a symbol the NEON or generic paths use (see isa.h).
//
// Numerics: integer sums are exact in both variants (|sums| stay far below 2^31), so the
// two differ from the generic kernels only in the order f32 partial sums are added
// (Q4_0/Q8_0), or compute the generic kernels' integers and per-super-block f32 expression
// (Q4_K/Q6_K).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "hal/cpu/kernels.h"
#include "hal/quant_blocks.h"

namespace airt::hal {
namespace {  // NOLINT(google-build-namespaces): one private copy per ISA translation unit

#include "hal/cpu/kernels/gemm_driver.h"  // NOLINT(bugprone-suspicious-include): per-TU copies

// acc + the products a[i] * b[i] summed in groups of four, one group per int32 lane.
using DotFn = int32x4_t (*)(int32x4_t acc, int8x16_t a, int8x16_t b);

// f16 -> f32 is exact and part of base Armv8-A (FCVT); no FP16 arithmetic is needed.
inline float arm_f16(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

// ---- 32-element blocks against Q8_0 activations ------------------------------------------

struct Levels {
  int8x16_t lo, hi;  // elements 0..15 and 16..31
};

inline Levels levels_q4_0(const BlockQ4_0& b) {
  const uint8x16_t q = vld1q_u8(b.qs);
  const int8x16_t eight = vdupq_n_s8(8);
  return {vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), eight),
          vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight)};
}

inline Levels levels_q8_0(const BlockQ8_0& b) { return {vld1q_s8(b.qs), vld1q_s8(b.qs + 16)}; }

// One weight row against up to 4 activation rows, each weight block decoded once. Every
// column has its own accumulator and the single-column order of operations, so gemm and
// vec_dot agree to the bit.
template <DotFn Dot, class WBlock, Levels (*Decode)(const WBlock&)>
void dot_cols(int64_t n, const WBlock* w, const BlockQ8_0* const* x, int nc, float* out) {
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const Levels wv = Decode(w[i]);
    const float dw = arm_f16(w[i].d);
    for (int c = 0; c < nc; ++c) {
      const BlockQ8_0& xb = x[c][i];
      const int32x4_t s = Dot(Dot(vdupq_n_s32(0), wv.lo, vld1q_s8(xb.qs)), wv.hi, vld1q_s8(xb.qs + 16));
      acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(s), dw * arm_f16(xb.d));
    }
  }
  for (int c = 0; c < nc; ++c) out[c] = vaddvq_f32(acc[c]);
}

template <DotFn Dot, class WBlock, Levels (*Decode)(const WBlock&)>
void vec_dot_q8(int64_t n, float* out, const void* w, const void* x) {
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  dot_cols<Dot, WBlock, Decode>(n, static_cast<const WBlock*>(w), &xb, 1, out);
}


// ---- K-quants against Q8_K activations ----------------------------------------------------

// The 6-bit scales and mins of the 8 sub-blocks of a Q4_K block (layout in quant_blocks.h;
// a private copy so the shared inline k_scale_min is never emitted with ISA flags).
inline void q4_k_scales(const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    mn[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    mn[j] = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Q4_K: chunk c of 64 elements holds sub-block 2c in the low nibbles of qs[32c..32c+32)
// and sub-block 2c+1 in the high ones. sumi = sum_s scale_s * dot_s, summ = sum_s min_s *
// sum(y in s) (|sumi| < 2^25), then the generic kernel's f32 expression.
template <DotFn Dot>
float q4_k_block(const BlockQ4_K& a, const BlockQ8_K& y) {
  uint8_t sc[8], mn[8];
  q4_k_scales(a.scales, sc, mn);
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  int32x4_t acc = vdupq_n_s32(0);
  for (int c = 0; c < 4; ++c) {
    const uint8x16_t b0 = vld1q_u8(a.qs + 32 * c);
    const uint8x16_t b1 = vld1q_u8(a.qs + 32 * c + 16);
    const int8_t* yq = y.qs + 64 * c;
    int32x4_t lo = Dot(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(b0, m4)), vld1q_s8(yq));
    lo = Dot(lo, vreinterpretq_s8_u8(vandq_u8(b1, m4)), vld1q_s8(yq + 16));
    int32x4_t hi = Dot(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)), vld1q_s8(yq + 32));
    hi = Dot(hi, vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), vld1q_s8(yq + 48));
    acc = vmlaq_n_s32(acc, lo, sc[2 * c]);
    acc = vmlaq_n_s32(acc, hi, sc[2 * c + 1]);
  }
  const int32_t sumi = vaddvq_s32(acc);
  // bsums hold sums of 16; adjacent pairs make the sums of each 32-element sub-block.
  const int16x8_t ys = vpaddq_s16(vld1q_s16(y.bsums), vld1q_s16(y.bsums + 8));
  const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
  const int32_t summ =
      vaddvq_s32(vmull_s16(vget_low_s16(ys), vget_low_s16(mins))) + vaddvq_s32(vmull_high_s16(ys, mins));
  return arm_f16(a.d) * y.d * static_cast<float>(sumi) - arm_f16(a.dmin) * y.d * static_cast<float>(summ);
}

// Q6_K: within each 128-element half, quarter k (32 elements) takes the low (k < 2) or
// high nibbles of ql[32 * (k & 1) + r] and bits 2k..2k+1 of qh[r]; levels are offset by 32.
// Sub-blocks are 16 long, so each 16-byte product maps to one signed 8-bit scale.
template <DotFn Dot>
float q6_k_block(const BlockQ6_K& a, const BlockQ8_K& y) {
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  const uint8x16_t m3 = vdupq_n_u8(0x03);
  const int8x16_t off = vdupq_n_s8(32);
  int32x4_t acc = vdupq_n_s32(0);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = a.ql + 64 * h;
    const uint8_t* qh = a.qh + 32 * h;
    const int8_t* sc = a.scales + 8 * h;
    const int8_t* yq = y.qs + 128 * h;
    for (int r = 0; r < 32; r += 16) {
      const uint8x16_t l0 = vld1q_u8(ql + r);
      const uint8x16_t l1 = vld1q_u8(ql + 32 + r);
      const uint8x16_t hb = vld1q_u8(qh + r);
      const uint8x16_t q[4] = {
          vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hb, m3), 4)),
          vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4)),
          vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4)),
          vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)),
      };
      for (int k = 0; k < 4; ++k) {
        const int8x16_t lv = vsubq_s8(vreinterpretq_s8_u8(q[k]), off);
        const int32x4_t d = Dot(vdupq_n_s32(0), lv, vld1q_s8(yq + 32 * k + r));
        acc = vmlaq_n_s32(acc, d, sc[2 * k + r / 16]);
      }
    }
  }
  return arm_f16(a.d) * y.d * static_cast<float>(vaddvq_s32(acc));
}

template <class WBlock, float (*Block)(const WBlock&, const BlockQ8_K&)>
void vec_dot_k(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const WBlock*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += Block(a[i], y[i]);
  *out = sum;
}


// Fills the integer-dot entries of a table: Q4_0 and Q8_0 (against Q8_0), Q4_K and Q6_K
// (against Q8_K).
template <DotFn Dot>
void fill_int_dots(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  q4.vec_dot = vec_dot_q8<Dot, BlockQ4_0, levels_q4_0>;
  q4.gemm = gemm_cols<BlockQ4_0, BlockQ8_0, 4, dot_cols<Dot, BlockQ4_0, levels_q4_0>>;
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  q8.vec_dot = vec_dot_q8<Dot, BlockQ8_0, levels_q8_0>;
  q8.gemm = gemm_cols<BlockQ8_0, BlockQ8_0, 4, dot_cols<Dot, BlockQ8_0, levels_q8_0>>;
  TypeKernels& q4k = k.types[static_cast<uint32_t>(DType::kQ4_K)];
  q4k.vec_dot = vec_dot_k<BlockQ4_K, q4_k_block<Dot>>;
  q4k.gemm = gemm_rows<vec_dot_k<BlockQ4_K, q4_k_block<Dot>>>;
  TypeKernels& q6k = k.types[static_cast<uint32_t>(DType::kQ6_K)];
  q6k.vec_dot = vec_dot_k<BlockQ6_K, q6_k_block<Dot>>;
  q6k.gemm = gemm_rows<vec_dot_k<BlockQ6_K, q6_k_block<Dot>>>;
}

}  // namespace
}  // namespace airt::hal
