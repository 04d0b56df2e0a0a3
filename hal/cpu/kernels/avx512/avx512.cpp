// AVX-512 (F/BW/VL/DQ + VNNI) kernels. Q8_0 and Q4_0 dots use vpdpbusd on 256-bit
// vectors: one instruction for the 32 byte products of a block, with no 16-bit
// saturation step; measured no slower than pairing two blocks per 512-bit vector, which
// costs inserts and per-pair scale vectors. The order of f32 operations is the AVX2
// kernel's, so the two variants agree to the bit. F32/F16 dots run on 16 lanes with
// masked tails.
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstdint>

#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

float f16(uint16_t h) { return _cvtsh_ss(h); }

__m256i q4_0_levels(const BlockQ4_0& b) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i m = _mm_set1_epi8(0x0f);
  const __m256i l = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
  return _mm256_sub_epi8(l, _mm256_set1_epi8(8));
}

__m256i q8_0_levels(const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }

// One weight row against up to 4 activation rows; each weight block is decoded once.
// dpbusd multiplies unsigned by signed bytes, so |w| meets x carrying w's sign
// (activations never hold -128, so the sign flip is exact). Each column keeps its own
// accumulator and the single-column operation order, so gemm and vec_dot agree to the bit.
template <class WBlock, __m256i (*Levels)(const WBlock&)>
void dot_cols(int64_t n, const WBlock* w, const BlockQ8_0* const* x, int nc, float* out) {
  const int64_t nb = n / kQK8_0;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i wv = Levels(w[i]);
    const __m256i aw = _mm256_sign_epi8(wv, wv);
    const float dw = f16(w[i].d);
    for (int c = 0; c < nc; ++c) {
      const __m256i sx = _mm256_sign_epi8(q8_0_levels(x[c][i]), wv);
      const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx);
      acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * f16(x[c][i].d)), _mm256_cvtepi32_ps(p), acc[c]);
    }
  }
  for (int c = 0; c < nc; ++c) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[c]), _mm256_extractf128_ps(acc[c], 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    out[c] = _mm_cvtss_f32(s);
  }
}

__m256i levels_q4_0(const BlockQ4_0& b) { return q4_0_levels(b); }
__m256i levels_q8_0(const BlockQ8_0& b) { return q8_0_levels(b); }

template <class WBlock, __m256i (*Levels)(const WBlock&)>
void vec_dot(int64_t n, float* out, const void* w, const void* x) {
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  dot_cols<WBlock, Levels>(n, static_cast<const WBlock*>(w), &xb, 1, out);
}

template <class WBlock, __m256i (*Levels)(const WBlock&)>
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
      dot_cols<WBlock, Levels>(k, wr, cols, nc, res);
      for (int c = 0; c < nc; ++c) out[(c0 + c) * ldo + r] = res[c];
    }
  }
}

// 16 lanes at a time; the tail (n not a multiple of 16) is masked, not scalar. The
// weight row (elements of kBytes) is prefetched 2.25 KiB ahead, as in gemv.cpp.
template <__m512 (*Load)(const void*, int64_t, __mmask16), int kBytes>
void vec_dot_float(int64_t n, float* out, const void* w, const void* x) {
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const char* pf = static_cast<const char*>(w) + i * kBytes + 2304;
    for (int o = 0; o < 32 * kBytes; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
    acc[0] = _mm512_fmadd_ps(Load(w, i, 0xffff), Load(x, i, 0xffff), acc[0]);
    acc[1] = _mm512_fmadd_ps(Load(w, i + 16, 0xffff), Load(x, i + 16, 0xffff), acc[1]);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1u);
    acc[0] = _mm512_fmadd_ps(Load(w, i, m), Load(x, i, m), acc[0]);
  }
  *out = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
}

__m512 load_f32(const void* p, int64_t i, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
}

__m512 load_f16(const void* p, int64_t i, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
}

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
  k.isa = "avx512";
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  q4.vec_dot = vec_dot<BlockQ4_0, levels_q4_0>;
  q4.gemm = gemm<BlockQ4_0, levels_q4_0>;
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  q8.vec_dot = vec_dot<BlockQ8_0, levels_q8_0>;
  q8.gemm = gemm<BlockQ8_0, levels_q8_0>;
  TypeKernels& f32 = k.types[static_cast<uint32_t>(DType::kF32)];
  f32.vec_dot = vec_dot_float<load_f32, 4>;
  f32.gemm = gemm_rows<vec_dot_float<load_f32, 4>>;
  TypeKernels& f16t = k.types[static_cast<uint32_t>(DType::kF16)];
  f16t.vec_dot = vec_dot_float<load_f16, 2>;
  f16t.gemm = gemm_rows<vec_dot_float<load_f16, 2>>;
  fill_gemv(k);
  fill_ops(k);
  fill_tiles(k);
  fill_tiles_k(k);
}

}  // namespace airt::hal::avx512
