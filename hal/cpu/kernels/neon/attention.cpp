// Armv8-A NEON attention over an f16 KV head, for every aarch64 table (the dotprod table
// starts from the NEON one). The query rows sit in the lanes ("rows in lanes", as the
// AVX-512 kernel does with 16): up to 16 rows in 4 vectors, so a key converted to f32
// once is broadcast one dimension at a time against the transposed queries, the softmax
// runs down the lanes, and the values are added the same way. No horizontal sums.
//
// exp() is a degree-7 polynomial on x - n·ln2 (relative error ~1e-7), scaled by 2^n
// through the exponent bits; inputs are <= 0 here (scores minus their row maximum).
#include <arm_neon.h>

#include <cmath>
#include <cstdint>

#include "hal/cpu/kernels/isa.h"

namespace airt::hal::neon {
namespace {

constexpr int kKeyTile = 4;  // keys scored together (independent FMA chains)

float32x4_t exp_neg(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-87.0f));  // below this 2^n leaves the normal range
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
  r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187e-06f));
  float32x4_t p = vdupq_n_f32(1.0f / 5040);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
  p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  // p * 2^n: n in [-126, 0] adds to the exponent field directly.
  const int32x4_t e = vshlq_n_s32(vcvtq_s32_f32(n), 23);
  return vreinterpretq_f32_s32(vaddq_s32(vreinterpretq_s32_f32(p), e));
}

void to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(src + i));
    vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(h)));
    vst1q_f32(dst + i + 4, vcvt_high_f32_f16(h));
  }
  for (; i < n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
}

float round_f16(float x) {
  return vgetq_lane_f32(vcvt_f32_f16(vcvt_f16_f32(vdupq_n_f32(x))), 0);
}

// Needs hd a multiple of 4 (the table falls back to generic otherwise). NV row vectors.
template <int NV>
void attention_rows(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
                    const uint16_t* const* v, float scale, float* const* out, void* scratch) {
  constexpr int W = 4 * NV;  // lanes in use
  int32_t n_max = 0;
  for (int r = 0; r < nq; ++r) n_max = n_kv[r] > n_max ? n_kv[r] : n_max;
  auto* base = static_cast<float*>(scratch);
  float* qt = base;                 // (hd, W): queries, f16-rounded, transposed
  float* kf = qt + 16 * hd;         // (kKeyTile, hd): key rows in f32
  float* s = kf + kKeyTile * hd;    // (n_max, W): scores, then probabilities
  for (int64_t d = 0; d < hd; ++d)
    for (int r = 0; r < W; ++r) qt[d * W + r] = r < nq ? round_f16(q[r][d]) : 0.0f;
  int32x4_t lim[NV];
  for (int b = 0; b < NV; ++b) {
    int32_t l[4];
    for (int i = 0; i < 4; ++i) l[i] = 4 * b + i < nq ? n_kv[4 * b + i] : 0;
    lim[b] = vld1q_s32(l);
  }
  const float32x4_t neg_inf = vdupq_n_f32(-INFINITY);

  float32x4_t m[NV];
  for (int b = 0; b < NV; ++b) m[b] = neg_inf;
  for (int32_t j0 = 0; j0 < n_max; j0 += kKeyTile) {
    const int nk = n_max - j0 < kKeyTile ? n_max - j0 : kKeyTile;
    for (int j = 0; j < nk; ++j) to_f32(k[j0 + j], kf + j * hd, hd);
    float32x4_t acc[kKeyTile][NV];
    for (int j = 0; j < kKeyTile; ++j)
      for (int b = 0; b < NV; ++b) acc[j][b] = vdupq_n_f32(0.0f);
    for (int64_t d = 0; d < hd; ++d) {
      float32x4_t qd[NV];
      for (int b = 0; b < NV; ++b) qd[b] = vld1q_f32(qt + d * W + 4 * b);
      for (int j = 0; j < kKeyTile; ++j) {
        const float kv = kf[(j < nk ? j : 0) * hd + d];
        for (int b = 0; b < NV; ++b) acc[j][b] = vfmaq_n_f32(acc[j][b], qd[b], kv);
      }
    }
    for (int j = 0; j < nk; ++j) {
      for (int b = 0; b < NV; ++b) {
        const uint32x4_t live = vcgtq_s32(lim[b], vdupq_n_s32(j0 + j));
        const float32x4_t sc = vbslq_f32(live, vmulq_n_f32(acc[j][b], scale), neg_inf);
        m[b] = vmaxq_f32(m[b], sc);
        vst1q_f32(s + size_t(j0 + j) * W + 4 * b, sc);
      }
    }
  }
  // Softmax down the lanes; rows without keys (m = -inf) take zeros.
  float32x4_t inv[NV];
  for (int b = 0; b < NV; ++b) {
    const uint32x4_t has = vmvnq_u32(vceqq_f32(m[b], neg_inf));
    const float32x4_t mb = vbslq_f32(has, m[b], vdupq_n_f32(0.0f));
    float32x4_t sum = vdupq_n_f32(0.0f);
    for (int32_t j = 0; j < n_max; ++j) {
      float* p = s + size_t(j) * W + 4 * b;
      const float32x4_t x = vld1q_f32(p);
      const float32x4_t e = vbslq_f32(vcgtq_f32(x, neg_inf), exp_neg(vsubq_f32(x, mb)), vdupq_n_f32(0.0f));
      vst1q_f32(p, e);
      sum = vaddq_f32(sum, e);
    }
    inv[b] = vbslq_f32(has, vdivq_f32(vdupq_n_f32(1.0f), sum), vdupq_n_f32(0.0f));
  }
  // Values, 4 dimensions at a time: 4 × NV accumulators, rows in lanes.
  for (int64_t d0 = 0; d0 < hd; d0 += 4) {
    float32x4_t acc[4][NV];
    for (int i = 0; i < 4; ++i)
      for (int b = 0; b < NV; ++b) acc[i][b] = vdupq_n_f32(0.0f);
    for (int32_t j = 0; j < n_max; ++j) {
      const float32x4_t vf = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(v[j] + d0)));
      for (int b = 0; b < NV; ++b) {
        const float32x4_t p = vld1q_f32(s + size_t(j) * W + 4 * b);
        acc[0][b] = vfmaq_laneq_f32(acc[0][b], p, vf, 0);
        acc[1][b] = vfmaq_laneq_f32(acc[1][b], p, vf, 1);
        acc[2][b] = vfmaq_laneq_f32(acc[2][b], p, vf, 2);
        acc[3][b] = vfmaq_laneq_f32(acc[3][b], p, vf, 3);
      }
    }
    for (int b = 0; b < NV; ++b) {
      float res[4][4];
      for (int i = 0; i < 4; ++i) vst1q_f32(res[i], vmulq_f32(acc[i][b], inv[b]));
      for (int l = 0; l < 4 && 4 * b + l < nq; ++l)
        for (int i = 0; i < 4; ++i) out[4 * b + l][d0 + i] = res[i][l];
    }
  }
}

void attention(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
               const uint16_t* const* v, float scale, float* const* out, void* scratch) {
  if (hd % 4 != 0 || hd > 256) {
    kernels_generic().attention(nq, hd, q, n_kv, k, v, scale, out, scratch);
    return;
  }
  switch ((nq + 3) / 4) {
    case 1: attention_rows<1>(nq, hd, q, n_kv, k, v, scale, out, scratch); break;
    case 2: attention_rows<2>(nq, hd, q, n_kv, k, v, scale, out, scratch); break;
    case 3: attention_rows<3>(nq, hd, q, n_kv, k, v, scale, out, scratch); break;
    default: attention_rows<4>(nq, hd, q, n_kv, k, v, scale, out, scratch); break;
  }
}

}  // namespace

void fill_attention(Kernels& k) { k.attention = attention; }

}  // namespace airt::hal::neon
