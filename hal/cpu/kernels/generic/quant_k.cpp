// K-quants (256-element super-blocks): Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weights against Q8_K
// activations. Each super-block is first unpacked into plain integer levels and sub-block
// scales; dequantization and the dot product then share that one decoding, so the dot is
// exactly sum(scale * integer dot) per sub-block, scaled once per super-block, as the
// format defines (and as ggml's reference computes it).
#include <cmath>
#include <cstring>

#include "hal/cpu/kernels/generic/generic.h"
#include "hal/fp16.h"
#include "hal/quant_blocks.h"

namespace airt::hal::generic {
namespace {

// One super-block decoded: q[e] are the integer levels (offsets already applied for the
// symmetric types), scale/min per sub-block of `sub` elements.
struct Unpacked {
  int8_t q[kQK_K];
  int16_t scale[16];
  int16_t min[16];  // zero for types without mins
};

void unpack_q2_k(const BlockQ2_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    const int half = e / 128, j = (e % 128) / 32, r = e % 32;
    u.q[e] = static_cast<int8_t>((b.qs[32 * half + r] >> (2 * j)) & 3);
  }
  for (int s = 0; s < 16; ++s) {
    u.scale[s] = b.scales[s] & 0xf;
    u.min[s] = b.scales[s] >> 4;
  }
}

// Q3_K sub-block s keeps the low 4 bits of its 6-bit scale in a nibble of bytes 0..7 and
// the top 2 bits in a 2-bit field of bytes 8..11; stored values are offset by 32.
int q3_k_scale(const uint8_t* sc, int s) {
  const int lo = s < 8 ? (sc[s] & 0xf) : (sc[s - 8] >> 4);
  const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

void unpack_q3_k(const BlockQ3_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    const int half = e / 128, j = (e % 128) / 32, r = e % 32;
    const int lo = (b.qs[32 * half + r] >> (2 * j)) & 3;
    const bool high = (b.hmask[r] >> (4 * half + j)) & 1;
    u.q[e] = static_cast<int8_t>(lo - (high ? 0 : 4));
  }
  for (int s = 0; s < 16; ++s) {
    u.scale[s] = static_cast<int16_t>(q3_k_scale(b.scales, s));
    u.min[s] = 0;
  }
}

void unpack_q4_k(const BlockQ4_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    const int chunk = e / 64, r = e % 32;
    const uint8_t byte = b.qs[32 * chunk + r];
    u.q[e] = static_cast<int8_t>((e % 64) < 32 ? (byte & 0xf) : (byte >> 4));
  }
  for (int s = 0; s < 8; ++s) {
    uint8_t sc, m;
    k_scale_min(s, b.scales, &sc, &m);
    u.scale[s] = sc;
    u.min[s] = m;
  }
}

void unpack_q5_k(const BlockQ5_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    const int chunk = e / 64, r = e % 32;
    const bool upper = (e % 64) >= 32;
    const uint8_t byte = b.qs[32 * chunk + r];
    const int lo = upper ? (byte >> 4) : (byte & 0xf);
    const int hi = (b.qh[r] >> (2 * chunk + (upper ? 1 : 0))) & 1;
    u.q[e] = static_cast<int8_t>(lo | (hi << 4));
  }
  for (int s = 0; s < 8; ++s) {
    uint8_t sc, m;
    k_scale_min(s, b.scales, &sc, &m);
    u.scale[s] = sc;
    u.min[s] = m;
  }
}

void unpack_q6_k(const BlockQ6_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    // Within each 128-element half, quarter k of 32 takes low nibbles (k even) or high
    // nibbles (k odd) of ql[64*half + 32*(k&1) + r] and 2 bits (2k) of qh[32*half + r].
    const int half = e / 128, k = (e % 128) / 32, r = e % 32;
    const uint8_t l = b.ql[64 * half + 32 * (k & 1) + r];
    const int lo = k < 2 ? (l & 0xf) : (l >> 4);
    const int hi = (b.qh[32 * half + r] >> (2 * k)) & 3;
    u.q[e] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }
  for (int s = 0; s < 16; ++s) {
    u.scale[s] = b.scales[s];
    u.min[s] = 0;
  }
}

void dequant(const Unpacked& u, int sub, float d, float dmin, float* y) {
  for (int e = 0; e < kQK_K; ++e) {
    const int s = e / sub;
    y[e] = d * static_cast<float>(u.scale[s]) * static_cast<float>(u.q[e]) -
           dmin * static_cast<float>(u.min[s]);
  }
}

// The super-block's contribution: d * y.d * sum_s scale_s * dot_s - dmin * y.d * sum_s
// min_s * sum(y in s). The sums of y come from bsums (groups of 16).
float dot(const Unpacked& u, int sub, float d, float dmin, const BlockQ8_K& y) {
  int32_t sumi = 0;
  int32_t summ = 0;
  const int nsub = kQK_K / sub;
  for (int s = 0; s < nsub; ++s) {
    int32_t dq = 0;
    for (int l = 0; l < sub; ++l) dq += u.q[s * sub + l] * y.qs[s * sub + l];
    sumi += u.scale[s] * dq;
    int32_t ysum = 0;
    for (int g = s * sub / 16; g < (s + 1) * sub / 16; ++g) ysum += y.bsums[g];
    summ += u.min[s] * ysum;
  }
  return d * y.d * static_cast<float>(sumi) - dmin * y.d * static_cast<float>(summ);
}

}  // namespace

void q2_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  Unpacked u;
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    unpack_q2_k(b[i], u);
    dequant(u, 16, fp16_to_fp32(b[i].d), fp16_to_fp32(b[i].dmin), dst);
  }
}

void q3_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  Unpacked u;
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    unpack_q3_k(b[i], u);
    dequant(u, 16, fp16_to_fp32(b[i].d), 0.0f, dst);
  }
}

void q4_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  Unpacked u;
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    unpack_q4_k(b[i], u);
    dequant(u, 32, fp16_to_fp32(b[i].d), fp16_to_fp32(b[i].dmin), dst);
  }
}

void q5_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  Unpacked u;
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    unpack_q5_k(b[i], u);
    dequant(u, 32, fp16_to_fp32(b[i].d), fp16_to_fp32(b[i].dmin), dst);
  }
}

void q6_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  Unpacked u;
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    unpack_q6_k(b[i], u);
    dequant(u, 16, fp16_to_fp32(b[i].d), 0.0f, dst);
  }
}

void q8_k_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    for (int j = 0; j < kQK_K; ++j) dst[j] = b[i].d * static_cast<float>(b[i].qs[j]);
  }
}

// As ggml's reference: the signed extreme maps to -127 exactly (scale -127/max), levels
// round to nearest even and clamp at 127 (the other sign may reach 128 before clamping).
void q8_k_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      if (amax < std::fabs(src[j])) {
        amax = std::fabs(src[j]);
        max = src[j];
      }
    }
    if (amax == 0.0f) {
      b[i].d = 0.0f;
      std::memset(b[i].qs, 0, sizeof(b[i].qs));
      std::memset(b[i].bsums, 0, sizeof(b[i].bsums));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) {
      const int v = round_nearest(iscale * src[j]);
      b[i].qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[i].qs[16 * g + l];
      b[i].bsums[g] = static_cast<int16_t>(sum);
    }
    b[i].d = 1.0f / iscale;
  }
}

void vec_dot_q2_k_q8_k(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(x);
  Unpacked u;
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    unpack_q2_k(a[i], u);
    sum += dot(u, 16, fp16_to_fp32(a[i].d), fp16_to_fp32(a[i].dmin), y[i]);
  }
  *out = sum;
}

void vec_dot_q3_k_q8_k(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(x);
  Unpacked u;
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    unpack_q3_k(a[i], u);
    sum += dot(u, 16, fp16_to_fp32(a[i].d), 0.0f, y[i]);
  }
  *out = sum;
}

void vec_dot_q4_k_q8_k(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(x);
  Unpacked u;
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    unpack_q4_k(a[i], u);
    sum += dot(u, 32, fp16_to_fp32(a[i].d), fp16_to_fp32(a[i].dmin), y[i]);
  }
  *out = sum;
}

void vec_dot_q5_k_q8_k(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(x);
  Unpacked u;
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    unpack_q5_k(a[i], u);
    sum += dot(u, 32, fp16_to_fp32(a[i].d), fp16_to_fp32(a[i].dmin), y[i]);
  }
  *out = sum;
}

void vec_dot_q6_k_q8_k(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(x);
  Unpacked u;
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    unpack_q6_k(a[i], u);
    sum += dot(u, 16, fp16_to_fp32(a[i].d), 0.0f, y[i]);
  }
  *out = sum;
}

}  // namespace airt::hal::generic
