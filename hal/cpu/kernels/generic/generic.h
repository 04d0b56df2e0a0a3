// The portable reference kernels, one function per (op, type). Faster ISA tables start
// from these and replace what they speed up, and tests compare every fast kernel with its
// twin here. Semantics are documented in hal/cpu/kernels.h; numerics follow ggml's
// reference CPU path so logits can be compared with its output.
#pragma once

#include <bit>
#include <cstdint>

#include "hal/cpu/kernels.h"

namespace airt::hal::generic {

// Round to nearest, ties to even, for |v| < 2^22, independent of the FP environment and
// free of float->int conversion (so NaN input gives garbage, never UB): adding 1.5*2^23
// pushes the fraction bits out of the mantissa.
inline int round_nearest(float v) {
  const float t = v + 12582912.0f;
  return static_cast<int>(std::bit_cast<uint32_t>(t) & 0x7fffffu) - 0x400000;
}

// Plain floats (float.cpp)
void f32_to_float(const void* src, float* dst, int64_t n);
void f32_from_float(const float* src, void* dst, int64_t n);
void f16_to_float(const void* src, float* dst, int64_t n);
void f16_from_float(const float* src, void* dst, int64_t n);
void bf16_to_float(const void* src, float* dst, int64_t n);
void bf16_from_float(const float* src, void* dst, int64_t n);
void vec_dot_f32(int64_t n, float* out, const void* w, const void* x);
void vec_dot_f16(int64_t n, float* out, const void* w, const void* x);
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x);
void f32_to_f16_row(const float* src, uint16_t* dst, int64_t n);
void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n);

// 32-element blocks (quant_legacy.cpp)
void q4_0_to_float(const void* src, float* dst, int64_t n);
void q4_1_to_float(const void* src, float* dst, int64_t n);
void q5_0_to_float(const void* src, float* dst, int64_t n);
void q5_1_to_float(const void* src, float* dst, int64_t n);
void q8_0_to_float(const void* src, float* dst, int64_t n);
void q8_1_to_float(const void* src, float* dst, int64_t n);
void q4_0_from_float(const float* src, void* dst, int64_t n);
void q4_1_from_float(const float* src, void* dst, int64_t n);
void q5_0_from_float(const float* src, void* dst, int64_t n);
void q5_1_from_float(const float* src, void* dst, int64_t n);
void q8_0_from_float(const float* src, void* dst, int64_t n);
void q8_1_from_float(const float* src, void* dst, int64_t n);
void vec_dot_q4_0_q8_0(int64_t n, float* out, const void* w, const void* x);
// TypeKernels::packed_gemm over Q4_0 panels (packed.h): every output as vec_dot_q4_0_q8_0
// gives it for the row, to the bit (quant_packed.cpp).
void packed_gemm_q4_0(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, const void* x,
                      size_t x_stride, float* out, int64_t ldo, void* scratch);
void vec_dot_q4_1_q8_1(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q5_0_q8_0(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q5_1_q8_1(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q8_0_q8_0(int64_t n, float* out, const void* w, const void* x);

// 256-element super-blocks (quant_k.cpp, quant_k_quantize.cpp)
void q2_k_to_float(const void* src, float* dst, int64_t n);
void q3_k_to_float(const void* src, float* dst, int64_t n);
void q4_k_to_float(const void* src, float* dst, int64_t n);
void q5_k_to_float(const void* src, float* dst, int64_t n);
void q6_k_to_float(const void* src, float* dst, int64_t n);
void q8_k_to_float(const void* src, float* dst, int64_t n);
void q8_k_from_float(const float* src, void* dst, int64_t n);
void q4_k_from_float(const float* src, void* dst, int64_t n);
void q5_k_from_float(const float* src, void* dst, int64_t n);
void q6_k_from_float(const float* src, void* dst, int64_t n);
void vec_dot_q2_k_q8_k(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q3_k_q8_k(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q4_k_q8_k(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q5_k_q8_k(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q6_k_q8_k(int64_t n, float* out, const void* w, const void* x);

// Row ops (ops.cpp)
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);
void softmax(float* x, int64_t n);
void silu_mul(const float* gate, const float* up, float* out, int64_t n);
void rope(float* x, int64_t head_dim, int64_t n_rot, int64_t pos, float freq_base,
          float freq_scale, bool neox);
void axpy(int64_t n, float a, const float* x, float* y);
void attention(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
               const uint16_t* const* v, float scale, float* const* out, void* scratch);


// Fills `k` with the reference kernels.
void fill_generic(Kernels& k);

}  // namespace airt::hal::generic
