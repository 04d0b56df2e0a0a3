// AVX2 attention over an f16 KV head, for CPUs without AVX-512 (Intel N100-class boards).
// The query rows sit in the lanes ("rows in lanes", as the AVX-512 and NEON kernels do):
// up to 16 rows in 2 vectors of 8, so a key converted to f32 once is broadcast one
// dimension at a time against the transposed queries, the softmax runs down the lanes,
// and the values are added the same way. No horizontal sums.
//
// exp() is a degree-7 polynomial on x - n·ln2 (relative error ~1e-7), scaled by 2^n
// through the exponent bits; inputs are <= 0 here (scores minus their row maximum).
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "hal/cpu/kernels/isa.h"

namespace airt::hal::avx2 {
namespace {

constexpr int kKeyTile = 4;  // keys scored together (independent FMA chains)

__m256 exp_neg(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));  // below this 2^n leaves the normal range
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // p * 2^n: n in [-126, 0] adds to the exponent field directly.
  const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

void to_f32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
}

float round_f16(float x) { return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT)); }

// Needs hd a multiple of 8 (the table falls back to generic otherwise). NV row vectors.
template <int NV>
void attention_rows(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
                    const uint16_t* const* v, float scale, float* const* out, void* scratch) {
  constexpr int W = 8 * NV;  // lanes in use
  int32_t n_max = 0;
  for (int r = 0; r < nq; ++r) n_max = n_kv[r] > n_max ? n_kv[r] : n_max;
  auto* base = static_cast<float*>(scratch);
  float* qt = base;               // (hd, W): queries, f16-rounded, transposed
  float* kf = qt + 16 * hd;       // (kKeyTile, hd): key rows in f32
  float* s = kf + kKeyTile * hd;  // (n_max, W): scores, then probabilities
  for (int64_t d = 0; d < hd; ++d)
    for (int r = 0; r < W; ++r) qt[d * W + r] = r < nq ? round_f16(q[r][d]) : 0.0f;
  __m256i lim[NV];
  for (int b = 0; b < NV; ++b) {
    alignas(32) int32_t l[8];
    for (int i = 0; i < 8; ++i) l[i] = 8 * b + i < nq ? n_kv[8 * b + i] : 0;
    lim[b] = _mm256_load_si256(reinterpret_cast<const __m256i*>(l));
  }
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);

  __m256 m[NV];
  for (int b = 0; b < NV; ++b) m[b] = neg_inf;
  for (int32_t j0 = 0; j0 < n_max; j0 += kKeyTile) {
    const int nk = n_max - j0 < kKeyTile ? n_max - j0 : kKeyTile;
    for (int j = 0; j < nk; ++j) to_f32(k[j0 + j], kf + j * hd, hd);
    __m256 acc[kKeyTile][NV];
    for (int j = 0; j < kKeyTile; ++j)
      for (int b = 0; b < NV; ++b) acc[j][b] = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd; ++d) {
      __m256 qd[NV];
      for (int b = 0; b < NV; ++b) qd[b] = _mm256_loadu_ps(qt + d * W + 8 * b);
      for (int j = 0; j < kKeyTile; ++j) {
        const __m256 kv = _mm256_broadcast_ss(kf + (j < nk ? j : 0) * hd + d);
        for (int b = 0; b < NV; ++b) acc[j][b] = _mm256_fmadd_ps(qd[b], kv, acc[j][b]);
      }
    }
    for (int j = 0; j < nk; ++j) {
      for (int b = 0; b < NV; ++b) {
        const __m256 live = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lim[b], _mm256_set1_epi32(j0 + j)));
        const __m256 sc = _mm256_blendv_ps(neg_inf, _mm256_mul_ps(acc[j][b], _mm256_set1_ps(scale)), live);
        m[b] = _mm256_max_ps(m[b], sc);
        _mm256_storeu_ps(s + size_t(j0 + j) * W + 8 * b, sc);
      }
    }
  }
  // Softmax down the lanes; rows without keys (m = -inf) take zeros.
  __m256 inv[NV];
  for (int b = 0; b < NV; ++b) {
    const __m256 has = _mm256_cmp_ps(m[b], neg_inf, _CMP_NEQ_OQ);
    const __m256 mb = _mm256_and_ps(has, m[b]);
    __m256 sum = _mm256_setzero_ps();
    for (int32_t j = 0; j < n_max; ++j) {
      float* p = s + size_t(j) * W + 8 * b;
      const __m256 x = _mm256_loadu_ps(p);
      const __m256 e = _mm256_and_ps(_mm256_cmp_ps(x, neg_inf, _CMP_NEQ_OQ), exp_neg(_mm256_sub_ps(x, mb)));
      _mm256_storeu_ps(p, e);
      sum = _mm256_add_ps(sum, e);
    }
    inv[b] = _mm256_and_ps(has, _mm256_div_ps(_mm256_set1_ps(1.0f), sum));
  }
  // Values, 8 dimensions at a time: 8 × NV accumulators, rows in lanes.
  alignas(32) float vt[8];
  for (int64_t d0 = 0; d0 < hd; d0 += 8) {
    __m256 acc[8][NV];
    for (int i = 0; i < 8; ++i)
      for (int b = 0; b < NV; ++b) acc[i][b] = _mm256_setzero_ps();
    for (int32_t j = 0; j < n_max; ++j) {
      _mm256_store_ps(vt, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v[j] + d0))));
      for (int b = 0; b < NV; ++b) {
        const __m256 p = _mm256_loadu_ps(s + size_t(j) * W + 8 * b);
        for (int i = 0; i < 8; ++i) acc[i][b] = _mm256_fmadd_ps(_mm256_broadcast_ss(vt + i), p, acc[i][b]);
      }
    }
    for (int b = 0; b < NV; ++b) {
      alignas(32) float res[8][8];
      for (int i = 0; i < 8; ++i) _mm256_store_ps(res[i], _mm256_mul_ps(acc[i][b], inv[b]));
      for (int l = 0; l < 8 && 8 * b + l < nq; ++l)
        for (int i = 0; i < 8; ++i) out[8 * b + l][d0 + i] = res[i][l];
    }
  }
}

void attention(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
               const uint16_t* const* v, float scale, float* const* out, void* scratch) {
  if (hd % 8 != 0 || hd > 256) {
    kernels_generic().attention(nq, hd, q, n_kv, k, v, scale, out, scratch);
    return;
  }
  if (nq <= 8) {
    attention_rows<1>(nq, hd, q, n_kv, k, v, scale, out, scratch);
  } else {
    attention_rows<2>(nq, hd, q, n_kv, k, v, scale, out, scratch);
  }
}

}  // namespace

void fill_attention(Kernels& k) { k.attention = attention; }

}  // namespace airt::hal::avx2
