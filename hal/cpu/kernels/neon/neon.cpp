// Armv8-A Advanced SIMD (NEON) kernels, the baseline of every aarch64 CPU (Raspberry Pi
// 4's Cortex-A72 included): Q4_0, Q8_0, Q4_K and Q6_K dot products and gemm (bodies in
// arm_common.h, int8 products by widening multiplies), the Q8_0 activation quantizer,
// F32/F16 dots, and attention (attention.cpp).
#include <arm_neon.h>

#include <cstdint>

#include "hal/cpu/kernels/isa.h"
#include "hal/cpu/kernels/neon/arm_common.h"
#include "hal/quant_blocks.h"

namespace airt::hal::neon {
namespace {

// vmull_s8 products fit in i16 even for -128 * -128; pairwise accumulation then widens them
// to i32 without rounding.
int32x4_t dot_i8(int32x4_t acc, int8x16_t a, int8x16_t b) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
}

// Bit-identical to the generic quantizer: the same amax (maxnm has fmax's NaN rule),
// d = amax/127, q = x * (127/amax) rounded to nearest with ties to even (FCVTNS), and the
// f16 scale rounded to nearest even (FCVTN under the default FPCR mode Linux gives every
// thread).
void q8_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i, src += kQK8_0) {
    float32x4_t v[8];
    float32x4_t amax = vdupq_n_f32(0.0f);
    for (int j = 0; j < 8; ++j) {
      v[j] = vld1q_f32(src + 4 * j);
      amax = vmaxnmq_f32(amax, vabsq_f32(v[j]));
    }
    const float a = vmaxnmvq_f32(amax);
    b[i].d = vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(a / 127.0f))), 0);
    const float id = a != 0.0f ? 127.0f / a : 0.0f;
    for (int j = 0; j < 8; j += 2) {
      const int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
      const int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(v[j + 1], id));
      vst1_s8(b[i].qs + 4 * j, vqmovn_s16(vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1))));
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
  for (; i < n; ++i) sum += arm_f16(a[i]) * arm_f16(b[i]);
  *out = sum;
}

}  // namespace

void fill(Kernels& k) {
  k.isa = "neon";
  fill_int_dots<dot_i8>(k);
  k.types[static_cast<uint32_t>(DType::kQ8_0)].from_float = q8_0_from_float;
  TypeKernels& f32 = k.types[static_cast<uint32_t>(DType::kF32)];
  f32.vec_dot = vec_dot_f32;
  f32.gemm = gemm_rows<vec_dot_f32>;
  TypeKernels& f16t = k.types[static_cast<uint32_t>(DType::kF16)];
  f16t.vec_dot = vec_dot_f16;
  f16t.gemm = gemm_rows<vec_dot_f16>;
  fill_attention(k);
}

}  // namespace airt::hal::neon
