// AVX2 dot products of Q4_K and Q6_K weights with Q8_K activations, for up to 4
// activation columns per decoded weight super-block (the gemm reuses each decode).
//
// Everything inside a super-block is integer and exact: maddubs multiplies the unsigned
// quants (Q4_K 0..15, Q6_K 0..63) by the signed activations into 16-bit pair sums (at
// most 63*127*2, no saturation), madd multiplies those by the sub-block scales into 32-bit
// sums. Q6_K's "- 32" and Q4_K's mins come out through the activation block sums. The
// float part is the generic kernel's expression in the same order, so results equal the
// generic twins to the bit.
// The float expression must not be contracted into FMAs (the generic build has none).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx2 {
namespace {

#include "hal/cpu/kernels/gemm_driver.h"  // NOLINT(bugprone-suspicious-include): per-TU copies

constexpr int kMaxCols = 4;
// Weight bytes prefetched ahead of the loads: the hardware prefetcher alone keeps too few
// misses in flight for a core's share of DRAM bandwidth (see avx512/gemv.cpp).
constexpr int kPrefetchBytes = 2304;

template <class WBlock>
void prefetch_block(const WBlock* b) {
  const char* p = reinterpret_cast<const char*>(b) + kPrefetchBytes;
  for (size_t o = 0; o < sizeof(WBlock); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

float f16(uint16_t h) { return _cvtsh_ss(h); }

int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

__m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// sum over 32 elements of q * y * scale (scale per 16-bit pair sum), as 8 int32 lanes.
__m256i dot32(__m256i q, const int8_t* y, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, load32(y)), scale16);
}

// The 8 scales and 8 mins of a Q4_K block as bytes, four at a time in 32-bit words
// (the layout of k_scale_min: sub-blocks 0..3 in the low 6 bits of bytes 0..3 / 4..7,
// sub-blocks 4..7 in the nibbles of bytes 8..11 plus the top 2 bits of bytes 0..7).
void scales_mins(const uint8_t* q, uint64_t* sc, uint64_t* mn) {
  uint32_t a, b, c;
  std::memcpy(&a, q, 4);
  std::memcpy(&b, q + 4, 4);
  std::memcpy(&c, q + 8, 4);
  const uint32_t sc_lo = a & 0x3f3f3f3fu, mn_lo = b & 0x3f3f3f3fu;
  const uint32_t sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
  const uint32_t mn_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
  *sc = uint64_t(sc_lo) | uint64_t(sc_hi) << 32;
  *mn = uint64_t(mn_lo) | uint64_t(mn_hi) << 32;
}

// Sums of the 8 lanes of a and of b.
void hsum2_i32(__m256i a, __m256i b, int32_t* sa, int32_t* sb) {
  const __m256i h = _mm256_hadd_epi32(a, b);
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  s = _mm_hadd_epi32(s, s);
  *sa = _mm_cvtsi128_si32(s);
  *sb = _mm_extract_epi32(s, 1);
}

void dot_cols_q4_k(int64_t n, const BlockQ4_K* w, const BlockQ8_K* const* y, int nc, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  float sum[kMaxCols] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ4_K& b = w[i];
    prefetch_block(&b);
    uint64_t scb, mnb;
    scales_mins(b.scales, &scb, &mnb);
    // Scales as 16-bit words in both halves; scale s is broadcast by a byte shuffle.
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(scb))));
    __m256i scale[8];
    for (int j = 0; j < 8; ++j)
      scale[j] = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16(int16_t((2 * j + 1) << 8 | 2 * j)));
    // Each min twice, against the two 16-element sums of its sub-block.
    const __m128i twice = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_cvtsi64_si128(int64_t(mnb)), twice));
    __m256i q[8];
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load32(b.qs + 32 * c);
      q[2 * c] = _mm256_and_si256(v, m4);
      q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
    const float d = f16(b.d), dmin = f16(b.dmin);
    for (int c = 0; c < nc; ++c) {
      const BlockQ8_K& yb = y[c][i];
      __m256i acc = _mm256_setzero_si256();
      for (int s = 0; s < 8; ++s) acc = _mm256_add_epi32(acc, dot32(q[s], yb.qs + 32 * s, scale[s]));
      int32_t sumi, summ;
      hsum2_i32(acc, _mm256_madd_epi16(mn16, load32(yb.bsums)), &sumi, &summ);
      sum[c] += d * yb.d * static_cast<float>(sumi) - dmin * yb.d * static_cast<float>(summ);
    }
  }
  for (int c = 0; c < nc; ++c) out[c] = sum[c];
}

void dot_cols_q6_k(int64_t n, const BlockQ6_K* w, const BlockQ8_K* const* y, int nc, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03);
  float sum[kMaxCols] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ6_K& b = w[i];
    prefetch_block(&b);
    // q[4h + k] holds elements 128h + 32k .. +32 (sub-blocks 8h + 2k and 8h + 2k + 1),
    // unsigned 0..63.
    __m256i q[8];
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = load32(b.ql + 64 * h), l1 = load32(b.ql + 64 * h + 32), hb = load32(b.qh + 32 * h);
      const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                             _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
      for (int k = 0; k < 4; ++k) {
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m2);
        q[4 * h + k] = _mm256_or_si256(lo[k], _mm256_slli_epi16(hi, 4));
      }
    }
    __m256i scale[8];
    for (int p = 0; p < 8; ++p) {
      scale[p] = _mm256_set_m128i(_mm_set1_epi16(b.scales[2 * p + 1]), _mm_set1_epi16(b.scales[2 * p]));
    }
    const float d = f16(b.d);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    for (int c = 0; c < nc; ++c) {
      const BlockQ8_K& yb = y[c][i];
      // 32 * sum over sub-blocks of scale * sum(y), taken off in the same integer sum.
      __m256i acc = _mm256_slli_epi32(_mm256_madd_epi16(sc16, load32(yb.bsums)), 5);
      acc = _mm256_sub_epi32(_mm256_setzero_si256(), acc);
      for (int p = 0; p < 8; ++p) acc = _mm256_add_epi32(acc, dot32(q[p], yb.qs + 32 * p, scale[p]));
      const int32_t sumi = hsum_i32(acc);
      sum[c] += d * yb.d * static_cast<float>(sumi);
    }
  }
  for (int c = 0; c < nc; ++c) out[c] = sum[c];
}

template <class WBlock, void (*Cols)(int64_t, const WBlock*, const BlockQ8_K* const*, int, float*)>
void vec_dot(int64_t n, float* out, const void* w, const void* x) {
  const auto* y = static_cast<const BlockQ8_K*>(x);
  Cols(n, static_cast<const WBlock*>(w), &y, 1, out);
}


}  // namespace

void fill_quant_k(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_K)];
  q4.vec_dot = vec_dot<BlockQ4_K, dot_cols_q4_k>;
  q4.gemm = gemm_cols<BlockQ4_K, BlockQ8_K, kMaxCols, dot_cols_q4_k>;
  TypeKernels& q6 = k.types[static_cast<uint32_t>(DType::kQ6_K)];
  q6.vec_dot = vec_dot<BlockQ6_K, dot_cols_q6_k>;
  q6.gemm = gemm_cols<BlockQ6_K, BlockQ8_K, kMaxCols, dot_cols_q6_k>;
}

}  // namespace airt::hal::avx2
