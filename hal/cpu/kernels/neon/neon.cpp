// Armv8-A Advanced SIMD (NEON) kernels, the baseline of every aarch64 CPU (Raspberry Pi
// 4's Cortex-A72 included): Q8_0 and Q4_0 dot products and gemm, the Q8_0 activation
// quantizer, and F32/F16 dots. Integer products within a block are exact (widening
// multiplies into i16, pairwise-added into i32), so these differ from the generic twins
// only in the order f32 partial sums are added.
//
// Only <arm_neon.h> and our plain structs are used here: an inline function from a shared
// header, emitted in this translation unit, could be the copy the linker keeps for the
// whole program (see isa.h).
#include <arm_neon.h>

#include <cstdint>

#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::neon {
namespace {

// f16 -> f32 is exact and part of base Armv8-A (FCVT); no FP16 arithmetic is needed.
float f16(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

// Sum of 16 signed byte products in 4 int32 lanes. vmull_s8 products fit in i16 even for
// -128 * -128; pairwise accumulation then widens to i32 without any rounding.
int32x4_t dot_i8x16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
}

// The 32 levels of one weight block in element order, as two halves of 16.
struct Levels {
  int8x16_t lo, hi;
};

Levels levels_q4_0(const BlockQ4_0& b) {
  const uint8x16_t q = vld1q_u8(b.qs);
  const int8x16_t eight = vdupq_n_s8(8);
  return {vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), eight),
          vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight)};
}

Levels levels_q8_0(const BlockQ8_0& b) { return {vld1q_s8(b.qs), vld1q_s8(b.qs + 16)}; }

// One weight row against up to 4 activation rows, decoding each weight block once. Each
// column keeps its own accumulator and the same operation order as a single-column call,
// so gemm and vec_dot agree to the bit.
template <class WBlock, Levels (*Decode)(const WBlock&)>
void dot_cols(int64_t n, const WBlock* w, const BlockQ8_0* const* x, int nc, float* out) {
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const Levels wv = Decode(w[i]);
    const float dw = f16(w[i].d);
    for (int c = 0; c < nc; ++c) {
      const BlockQ8_0& xb = x[c][i];
      int32x4_t s = dot_i8x16(vdupq_n_s32(0), wv.lo, vld1q_s8(xb.qs));
      s = dot_i8x16(s, wv.hi, vld1q_s8(xb.qs + 16));
      acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(s), dw * f16(xb.d));
    }
  }
  for (int c = 0; c < nc; ++c) out[c] = vaddvq_f32(acc[c]);
}

template <class WBlock, Levels (*Decode)(const WBlock&)>
void vec_dot(int64_t n, float* out, const void* w, const void* x) {
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  dot_cols<WBlock, Decode>(n, static_cast<const WBlock*>(w), &xb, 1, out);
}

template <class WBlock, Levels (*Decode)(const WBlock&)>
void gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
          size_t x_stride, float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t r = r0; r < r1; ++r) {
    const auto* wr = reinterpret_cast<const WBlock*>(wb + r * w_stride);
    for (int64_t c0 = 0; c0 < ncols; c0 += 4) {
      const int nc = static_cast<int>(ncols - c0 < 4 ? ncols - c0 : 4);
      const BlockQ8_0* cols[4];
      for (int c = 0; c < nc; ++c) cols[c] = reinterpret_cast<const BlockQ8_0*>(xb + (c0 + c) * x_stride);
      float res[4];
      dot_cols<WBlock, Decode>(k, wr, cols, nc, res);
      for (int c = 0; c < nc; ++c) out[(c0 + c) * ldo + r] = res[c];
    }
  }
}

// Bit-identical to the generic quantizer: the same amax, d = amax/127, q = x * (127/amax)
// rounded to nearest with ties to even (FCVTNS), and the f16 scale rounded to nearest even
// (FCVTN under the default FPCR mode, which Linux gives every thread).
void q8_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i, src += kQK8_0) {
    float32x4_t v[8];
    float32x4_t amax = vdupq_n_f32(0.0f);
    for (int j = 0; j < 8; ++j) {
      v[j] = vld1q_f32(src + 4 * j);
      amax = vmaxnmq_f32(amax, vabsq_f32(v[j]));  // fmax semantics, as generic
    }
    const float a = vmaxnmvq_f32(amax);
    b[i].d = vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(a / 127.0f))), 0);
    const float id = a != 0.0f ? 127.0f / a : 0.0f;
    for (int j = 0; j < 8; j += 2) {
      const int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
      const int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(v[j + 1], id));
      const int16x8_t q16 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
      vst1_s8(b[i].qs + 4 * j, vqmovn_s16(q16));
    }
  }
}

// Four independent accumulators hide the FMA latency; the tail is scalar.
void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 4; ++j) acc[j] = vfmaq_f32(acc[j], vld1q_f32(a + i + 4 * j), vld1q_f32(b + i + 4 * j));
  }
  for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], vld1q_f32(a + i), vld1q_f32(b + i));
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
  for (; i < n; ++i) sum += a[i] * b[i];
  *out = sum;
}

// F16 rows are widened to f32 (FCVTL) and multiplied in f32, as the generic kernel does;
// half-precision arithmetic would round every product.
void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 2; ++j) {
      const float16x8_t ha = vreinterpretq_f16_u16(vld1q_u16(a + i + 8 * j));
      const float16x8_t hb = vreinterpretq_f16_u16(vld1q_u16(b + i + 8 * j));
      acc[2 * j] = vfmaq_f32(acc[2 * j], vcvt_f32_f16(vget_low_f16(ha)), vcvt_f32_f16(vget_low_f16(hb)));
      acc[2 * j + 1] = vfmaq_f32(acc[2 * j + 1], vcvt_high_f32_f16(ha), vcvt_high_f32_f16(hb));
    }
  }
  for (; i + 4 <= n; i += 4) {
    const float32x4_t fa = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(a + i)));
    const float32x4_t fb = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(b + i)));
    acc[0] = vfmaq_f32(acc[0], fa, fb);
  }
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
  for (; i < n; ++i) sum += f16(a[i]) * f16(b[i]);
  *out = sum;
}

// Plain loops around the dot for the float types: their rows are long and contiguous, so
// the win is in the dot itself.
template <void (*Dot)(int64_t, float*, const void*, const void*)>
void gemm_rows(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
               size_t x_stride, float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t c = 0; c < ncols; ++c) Dot(k, out + c * ldo + r, wb + r * w_stride, xb + c * x_stride);
  }
}

}  // namespace

void fill(Kernels& k) {
  k.isa = "neon";
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  q4.vec_dot = vec_dot<BlockQ4_0, levels_q4_0>;
  q4.gemm = gemm<BlockQ4_0, levels_q4_0>;
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  q8.vec_dot = vec_dot<BlockQ8_0, levels_q8_0>;
  q8.gemm = gemm<BlockQ8_0, levels_q8_0>;
  q8.from_float = q8_0_from_float;
  TypeKernels& f32 = k.types[static_cast<uint32_t>(DType::kF32)];
  f32.vec_dot = vec_dot_f32;
  f32.gemm = gemm_rows<vec_dot_f32>;
  TypeKernels& f16t = k.types[static_cast<uint32_t>(DType::kF16)];
  f16t.vec_dot = vec_dot_f16;
  f16t.gemm = gemm_rows<vec_dot_f16>;
}

}  // namespace airt::hal::neon
