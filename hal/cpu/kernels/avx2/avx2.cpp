// AVX2 + FMA + F16C kernels: Q8_0, Q5_0 and Q4_0 dot products and gemm, the Q8_0 activation
// quantizer, and F32/F16 dots. Integer products within a block are exact (maddubs pairs
// stay below 2^15 because activations never hold -128), so these differ from the generic
// twins only in the order f32 partial sums are added.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx2 {
namespace {

#include "hal/cpu/kernels/gemm_driver.h"  // NOLINT(bugprone-suspicious-include): per-TU copies

float f16(uint16_t h) { return _cvtsh_ss(h); }

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Dot of 32 signed bytes in 8 int32 lanes, as floats. maddubs multiplies unsigned by
// signed, so the sign of w moves onto x first.
__m256 dot_i8(__m256i w, __m256i x) {
  const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

// Q4_0 levels of one block as 32 signed bytes in element order (low nibbles first).
__m256i q4_0_levels(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0f);
  const __m256i v = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
  return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

// 32 bits as 32 bytes, 0xff where the bit is set (bit j -> byte j).
__m256i bytes_from_bits(const uint8_t* bits) {
  uint32_t x;
  std::memcpy(&x, bits, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(int(x)), _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                                                    0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Q5_0 levels: the Q4_0 nibbles with the fifth bit from qh, minus 16.
__m256i q5_0_levels(const BlockQ5_0& b) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i m = _mm_set1_epi8(0x0f);
  const __m256i n = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
  const __m256i h = _mm256_and_si256(bytes_from_bits(b.qh), _mm256_set1_epi8(0x10));
  return _mm256_sub_epi8(_mm256_or_si256(n, h), _mm256_set1_epi8(16));
}

__m256i q8_0_levels(const int8_t* qs) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)); }

// One weight row against up to 4 activation rows: the weight block is decoded once per
// step. Each column keeps its own accumulator and the same operation order as the
// single-column call, so gemm and vec_dot agree to the bit.
template <class WBlock, __m256i (*Levels)(const WBlock&)>
void dot_cols(int64_t n, const WBlock* w, const BlockQ8_0* const* x, int nc, float* out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    // The weight stream prefetched 2.25 KiB ahead (see avx512/gemv.cpp); one prefetch per
    // block touches every line.
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + 2304, _MM_HINT_T0);
    const __m256i wv = Levels(w[i]);
    const float dw = f16(w[i].d);
    for (int c = 0; c < nc; ++c) {
      const __m256 d = _mm256_set1_ps(dw * f16(x[c][i].d));
      acc[c] = _mm256_fmadd_ps(d, dot_i8(wv, q8_0_levels(x[c][i].qs)), acc[c]);
    }
  }
  for (int c = 0; c < nc; ++c) out[c] = hsum(acc[c]);
}

__m256i levels_q4_0(const BlockQ4_0& b) { return q4_0_levels(b.qs); }
__m256i levels_q8_0(const BlockQ8_0& b) { return q8_0_levels(b.qs); }

template <class WBlock, __m256i (*Levels)(const WBlock&)>
void vec_dot(int64_t n, float* out, const void* w, const void* x) {
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  dot_cols<WBlock, Levels>(n, static_cast<const WBlock*>(w), &xb, 1, out);
}

// Bit-identical to the generic quantizer: same amax, d = amax/127, q = x * (127/amax)
// rounded to nearest even (the default MXCSR mode), f16 scale rounded to nearest even.
void q8_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / kQK8_0; ++i, src += kQK8_0) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(src + 8 * j);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float a = _mm_cvtss_f32(m);
    b[i].d = _cvtss_sh(a / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const __m256 id = _mm256_set1_ps(a != 0.0f ? 127.0f / a : 0.0f);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    // Packs work within 128-bit lanes; the permute restores element order.
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
}

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 4; ++j) {
      acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * j), _mm256_loadu_ps(b + i + 8 * j), acc[j]);
    }
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += a[i] * b[i];
  *out = sum;
}

__m256 load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 4; ++j) acc[j] = _mm256_fmadd_ps(load_f16(a + i + 8 * j), load_f16(b + i + 8 * j), acc[j]);
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_f16(a + i), load_f16(b + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += f16(a[i]) * f16(b[i]);
  *out = sum;
}


}  // namespace

void fill(Kernels& k) {
  k.isa = "avx2";
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  q4.vec_dot = vec_dot<BlockQ4_0, levels_q4_0>;
  q4.gemm = gemm_cols<BlockQ4_0, BlockQ8_0, 4, dot_cols<BlockQ4_0, levels_q4_0>>;
  TypeKernels& q5 = k.types[static_cast<uint32_t>(DType::kQ5_0)];
  q5.vec_dot = vec_dot<BlockQ5_0, q5_0_levels>;
  q5.gemm = gemm_cols<BlockQ5_0, BlockQ8_0, 4, dot_cols<BlockQ5_0, q5_0_levels>>;
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  q8.vec_dot = vec_dot<BlockQ8_0, levels_q8_0>;
  q8.gemm = gemm_cols<BlockQ8_0, BlockQ8_0, 4, dot_cols<BlockQ8_0, levels_q8_0>>;
  q8.from_float = q8_0_from_float;
  // The float types' gemm is the plain loop around the dot: their rows are long and
  // contiguous, so the win is in the dot itself.
  TypeKernels& f32 = k.types[static_cast<uint32_t>(DType::kF32)];
  f32.vec_dot = vec_dot_f32;
  f32.gemm = gemm_rows<vec_dot_f32>;
  TypeKernels& f16t = k.types[static_cast<uint32_t>(DType::kF16)];
  f16t.vec_dot = vec_dot_f16;
  f16t.gemm = gemm_rows<vec_dot_f16>;
  fill_quant_k(k);
  fill_attention(k);
  fill_tiles(k);
  fill_tiles_k(k);
}

}  // namespace airt::hal::avx2
