// Quantizers for the K-quant weight types (for `airt quantize` and for tests). They are
// ours, not bit-compatible with ggml's: each sub-block starts from its min/max (or signed
// extreme) and is refined by a few least-squares passes; the sub-block scales are then
// quantized against the super-block scale and the levels recomputed with the scales as
// stored, so what is written is what dequantizes best under the stored scales.
#include <cmath>
#include <cstring>

#include "hal/cpu/kernels/generic/generic.h"
#include "hal/fp16.h"
#include "hal/quant_blocks.h"

namespace airt::hal::generic {
namespace {

int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Fits x ~= scale * q - min with q in [0, nmax], min >= 0 (the format subtracts a
// non-negative min). Returns scale; *min_out the min.
float fit_affine(const float* x, int n, int nmax, float* min_out) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::fmin(lo, x[i]);
    hi = std::fmax(hi, x[i]);
  }
  lo = std::fmin(lo, 0.0f);
  if (hi <= lo) {
    *min_out = -lo;
    return 0.0f;
  }
  float scale = (hi - lo) / static_cast<float>(nmax);
  float min = -lo;
  int q[32];
  // Least squares on (scale, min) for the current levels, then re-level; a few passes
  // shave the error of plain min/max mapping without risking divergence (the best pair
  // seen is kept).
  float best_err = INFINITY, best_scale = scale, best_min = min;
  for (int pass = 0; pass < 4; ++pass) {
    const float inv = 1.0f / scale;
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      q[i] = clamp_int(round_nearest((x[i] + min) * inv), 0, nmax);
      const float e = scale * static_cast<float>(q[i]) - min - x[i];
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best_scale = scale;
      best_min = min;
    }
    double sq = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      sq += q[i];
      sqq += static_cast<double>(q[i]) * q[i];
      sx += x[i];
      sqx += static_cast<double>(q[i]) * x[i];
    }
    const double det = n * sqq - sq * sq;
    if (det <= 0) break;
    const double s = (n * sqx - sq * sx) / det;
    const double m = (sq * sqx - sqq * sx) / det;  // x = s q - m  =>  m = (s sq - sx) / n
    if (!(s > 0) || m < 0) break;
    scale = static_cast<float>(s);
    min = static_cast<float>(m);
  }
  *min_out = best_min;
  return best_scale;
}

// Q4_K / Q5_K packing of 8 6-bit scales and mins into 12 bytes (inverse of k_scale_min).
void pack_scale_min(const uint8_t ls[8], const uint8_t lm[8], uint8_t out[12]) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      out[j] = ls[j];
      out[j + 4] = lm[j];
    } else {
      out[j + 4] = static_cast<uint8_t>((ls[j] & 0xf) | ((lm[j] & 0xf) << 4));
      out[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      out[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fills d, dmin, scales and the levels.
void quantize_k_affine(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out,
                       uint8_t scales[12], uint8_t levels[kQK_K]) {
  float sc[8], mn[8];
  float max_sc = 0.0f, max_mn = 0.0f;
  for (int s = 0; s < 8; ++s) {
    sc[s] = fit_affine(x + 32 * s, 32, nmax, &mn[s]);
    max_sc = std::fmax(max_sc, sc[s]);
    max_mn = std::fmax(max_mn, mn[s]);
  }
  uint8_t ls[8], lm[8];
  const float isc = max_sc > 0 ? 63.0f / max_sc : 0.0f;
  const float imn = max_mn > 0 ? 63.0f / max_mn : 0.0f;
  for (int s = 0; s < 8; ++s) {
    ls[s] = static_cast<uint8_t>(clamp_int(round_nearest(sc[s] * isc), 0, 63));
    lm[s] = static_cast<uint8_t>(clamp_int(round_nearest(mn[s] * imn), 0, 63));
  }
  *d_out = fp32_to_fp16(max_sc / 63.0f);
  *dmin_out = fp32_to_fp16(max_mn / 63.0f);
  pack_scale_min(ls, lm, scales);
  const float d = fp16_to_fp32(*d_out), dmin = fp16_to_fp32(*dmin_out);
  for (int s = 0; s < 8; ++s) {
    const float dl = d * ls[s], ml = dmin * lm[s];
    const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int l = 0; l < 32; ++l) {
      levels[32 * s + l] = static_cast<uint8_t>(clamp_int(round_nearest((x[32 * s + l] + ml) * inv), 0, nmax));
    }
  }
}

}  // namespace

void q4_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  uint8_t lv[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    quantize_k_affine(src, 15, &b[i].d, &b[i].dmin, b[i].scales, lv);
    for (int chunk = 0; chunk < 4; ++chunk) {
      for (int r = 0; r < 32; ++r) {
        b[i].qs[32 * chunk + r] = static_cast<uint8_t>(lv[64 * chunk + r] | (lv[64 * chunk + 32 + r] << 4));
      }
    }
  }
}

void q5_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_K*>(dst);
  uint8_t lv[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    quantize_k_affine(src, 31, &b[i].d, &b[i].dmin, b[i].scales, lv);
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int chunk = 0; chunk < 4; ++chunk) {
      for (int r = 0; r < 32; ++r) {
        const int lo = lv[64 * chunk + r], hi = lv[64 * chunk + 32 + r];
        b[i].qs[32 * chunk + r] = static_cast<uint8_t>((lo & 0xf) | ((hi & 0xf) << 4));
        b[i].qh[r] |= static_cast<uint8_t>(((lo >> 4) << (2 * chunk)) | ((hi >> 4) << (2 * chunk + 1)));
      }
    }
  }
}

void q6_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    // Signed sub-block scales: the extreme of each sub-block maps to level -32.
    float sc[16];
    float max_abs = 0.0f, max_sc = 0.0f;
    for (int s = 0; s < 16; ++s) {
      float amax = 0.0f, mx = 0.0f;
      for (int l = 0; l < 16; ++l) {
        const float v = src[16 * s + l];
        if (std::fabs(v) > amax) {
          amax = std::fabs(v);
          mx = v;
        }
      }
      sc[s] = mx / -32.0f;
      if (std::fabs(sc[s]) > max_abs) {
        max_abs = std::fabs(sc[s]);
        max_sc = sc[s];
      }
    }
    const float iscale = max_abs > 0 ? -128.0f / max_sc : 0.0f;
    const float d = iscale != 0.0f ? 1.0f / iscale : 0.0f;
    b[i].d = fp32_to_fp16(d);
    const float dh = fp16_to_fp32(b[i].d);
    uint8_t lv[kQK_K];
    for (int s = 0; s < 16; ++s) {
      const int ls = clamp_int(round_nearest(sc[s] * iscale), -128, 127);
      b[i].scales[s] = static_cast<int8_t>(ls);
      const float dl = dh * static_cast<float>(ls);
      const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
      for (int l = 0; l < 16; ++l) {
        lv[16 * s + l] = static_cast<uint8_t>(clamp_int(round_nearest(src[16 * s + l] * inv), -32, 31) + 32);
      }
    }
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int half = 0; half < 2; ++half) {
      for (int k = 0; k < 4; ++k) {
        for (int r = 0; r < 32; ++r) {
          const int v = lv[128 * half + 32 * k + r];
          uint8_t& l = b[i].ql[64 * half + 32 * (k & 1) + r];
          if (k < 2) l = static_cast<uint8_t>(v & 0xf);
          else l |= static_cast<uint8_t>((v & 0xf) << 4);
          b[i].qh[32 * half + r] |= static_cast<uint8_t>((v >> 4) << (2 * k));
        }
      }
    }
  }
}

}  // namespace airt::hal::generic
