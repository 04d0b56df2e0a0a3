// AVX-512 row operations and attention. exp() is a degree-7 polynomial on the reduced
// argument (relative error ~1e-7, like expf's last bits), scaled by 2^n with vscalefps,
// which also gives exact 0 for very negative inputs.
//
// Attention works with the query rows in the 16 lanes of a vector ("rows in lanes"): a
// key row converted to f32 is broadcast one dimension at a time against the transposed
// queries, so 16 rows' scores come out of plain FMAs with no horizontal sums, the softmax
// runs down the lanes, and the values are added the same way. One call serves all heads
// of a KV group (and several tokens), so each K and V row is converted once per call.
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cmath>
#include <cstdint>

#include "hal/cpu/kernels/isa.h"

namespace airt::hal::avx512 {
namespace {

__m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

__mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u); }

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) {
    m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - i), x + i));
  }
  const float max = _mm512_reduce_max_ps(m);
  if (max == -INFINITY) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return;
  }
  __m512 sum = _mm512_setzero_ps();
  const __m512 vmax = _mm512_set1_ps(max);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vmax)));
    _mm512_mask_storeu_ps(x + i, k, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
  }
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(k, gate + i);
    const __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, up + i)));
  }
}

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  // Sums of squares in double, as the reference does: 8 lanes at a time.
  __m512d acc = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 8) {
    const __mmask8 k = n - i >= 8 ? __mmask8(0xff) : __mmask8((1u << (n - i)) - 1u);
    const __m256 v = _mm256_maskz_loadu_ps(k, x + i);
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_mul_ps(v, v)));
  }
  const float mean = float(_mm512_reduce_add_pd(acc) / double(n));
  const __m512 scale = _mm512_set1_ps(1.0f / std::sqrt(mean + eps));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), scale);
    _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, w + i)));
  }
}

void axpy(int64_t n, float a, const float* x, float* y) {
  const __m512 va = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, k, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i)));
  }
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm256_mask_storeu_epi16(dst + i, k,
                             _mm512_cvtps_ph(_mm512_maskz_loadu_ps(k, src + i), _MM_FROUND_TO_NEAREST_INT));
  }
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(dst + i, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, src + i)));
  }
}

constexpr int kKeyTile = 8;  // keys whose scores are computed together (independent FMA chains)

// Needs hd a multiple of 16 and hd <= 256 (the kernel table falls back to generic otherwise).
void attention(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
               const uint16_t* const* v, float scale, float* const* out, void* scratch) {
  int32_t n_max = 0;
  for (int r = 0; r < nq; ++r) n_max = n_kv[r] > n_max ? n_kv[r] : n_max;
  auto* base = static_cast<float*>(scratch);
  float* qt = base;                    // (hd, 16): queries, f16-rounded, transposed
  float* kf = qt + 16 * hd;            // (kKeyTile, hd): key rows in f32
  float* s = kf + kKeyTile * hd;       // (n_max, 16): scores, then probabilities
  for (int64_t d = 0; d < hd; ++d)
    for (int r = 0; r < 16; ++r) qt[d * 16 + r] = r < nq ? _cvtsh_ss(_cvtss_sh(q[r][d], 0)) : 0.0f;
  alignas(64) int32_t lim[16];
  for (int r = 0; r < 16; ++r) lim[r] = r < nq ? n_kv[r] : 0;
  const __m512i vlim = _mm512_load_si512(lim);
  const __m512 vscale = _mm512_set1_ps(scale);

  // Scores, with keys past a row's limit masked to -inf.
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int32_t j0 = 0; j0 < n_max; j0 += kKeyTile) {
    const int nk = n_max - j0 < kKeyTile ? n_max - j0 : kKeyTile;
    for (int j = 0; j < nk; ++j) f16_to_f32(k[j0 + j], kf + j * hd, hd);
    __m512 acc[kKeyTile];
    for (int j = 0; j < kKeyTile; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t d = 0; d < hd; ++d) {
      const __m512 qd = _mm512_load_ps(qt + d * 16);
      for (int j = 0; j < kKeyTile; ++j) acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(kf[j * hd + d]), qd, acc[j]);
    }
    for (int j = 0; j < nk; ++j) {
      const __mmask16 live = _mm512_cmpgt_epi32_mask(vlim, _mm512_set1_epi32(j0 + j));
      const __m512 sc = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), live, _mm512_mul_ps(acc[j], vscale));
      m = _mm512_max_ps(m, sc);
      _mm512_store_ps(s + size_t(j0 + j) * 16, sc);
    }
  }
  // Softmax down the lanes (rows without keys have m = -inf and take zeros).
  const __mmask16 has = _mm512_cmp_ps_mask(m, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
  __m512 sum = _mm512_setzero_ps();
  for (int32_t j = 0; j < n_max; ++j) {
    const __m512 e = _mm512_maskz_mov_ps(has, exp512(_mm512_sub_ps(_mm512_load_ps(s + size_t(j) * 16), m)));
    _mm512_store_ps(s + size_t(j) * 16, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_maskz_div_ps(has, _mm512_set1_ps(1.0f), sum);
  // Values: 16 dimensions at a time, one accumulator per dimension, rows in lanes.
  alignas(64) float vt[16];
  alignas(64) float res[16][16];
  for (int64_t d0 = 0; d0 < hd; d0 += 16) {
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    for (int32_t j = 0; j < n_max; ++j) {
      _mm512_store_ps(vt, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v[j] + d0))));
      const __m512 p = _mm512_load_ps(s + size_t(j) * 16);
      for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(vt[i]), p, acc[i]);
    }
    for (int i = 0; i < 16; ++i) _mm512_store_ps(res[i], _mm512_mul_ps(acc[i], inv));
    for (int r = 0; r < nq; ++r)
      for (int i = 0; i < 16; ++i) out[r][d0 + i] = res[i][r];
  }
}

void attention_or_generic(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
                          const uint16_t* const* v, float scale, float* const* out, void* scratch) {
  if (hd % 16 != 0 || hd > 256) {
    kernels_generic().attention(nq, hd, q, n_kv, k, v, scale, out, scratch);
    return;
  }
  attention(nq, hd, q, n_kv, k, v, scale, out, scratch);
}

}  // namespace

void fill_ops(Kernels& k) {
  k.softmax = softmax;
  k.silu_mul = silu_mul;
  k.rms_norm = rms_norm;
  k.axpy = axpy;
  k.f32_to_f16 = f32_to_f16;
  k.f16_to_f32 = f16_to_f32;
  k.attention = attention_or_generic;
}

}  // namespace airt::hal::avx512
