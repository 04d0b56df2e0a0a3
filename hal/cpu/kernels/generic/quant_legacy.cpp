// The 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1 (weights) and Q8_0, Q8_1 (weights
// and activations). Dots multiply integers within a block and scale once per block, in
// f32, as ggml's reference path does.
#include <cmath>
#include <cstring>

#include "hal/cpu/kernels/generic/generic.h"
#include "hal/fp16.h"
#include "hal/quant_blocks.h"

namespace airt::hal::generic {
namespace {

static_assert(std::endian::native == std::endian::little, "quant blocks are little-endian");

uint32_t load_qh(const uint8_t qh[4]) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}

// Integer in [0, hi] nearest below v + 0.5 (the reference quantizers' truncating round);
// NaN maps to 0 instead of undefined behaviour.
int clamp_trunc(float v, float hi) { return static_cast<int>(std::fmin(std::fmax(v, 0.0f), hi)); }

// Largest |x| in the block and the signed value that has it (first one on ties).
void signed_absmax(const float* x, int n, float* amax, float* max) {
  *amax = 0.0f;
  *max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (*amax < std::fabs(x[j])) {
      *amax = std::fabs(x[j]);
      *max = x[j];
    }
  }
}

void min_max(const float* x, int n, float* mn, float* mx) {
  *mn = x[0];
  *mx = x[0];
  for (int j = 1; j < n; ++j) {
    *mn = std::fmin(*mn, x[j]);
    *mx = std::fmax(*mx, x[j]);
  }
}

// Q8_0 / Q8_1 quantization of one block: d = amax/127 and q = round(x * 127/amax), ties to
// even, as ggml's AVX2 and NEON activation quantizers do. Returns sum(q).
int quantize_q8_block(const float* x, int8_t* qs, float* d_out) {
  float amax = 0.0f;
  for (int j = 0; j < kQK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int sum = 0;
  for (int j = 0; j < kQK8_0; ++j) {
    const int q = round_nearest(x[j] * id);
    qs[j] = static_cast<int8_t>(q);
    sum += q;
  }
  *d_out = d;
  return sum;
}

}  // namespace

void q4_0_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i, dst += kQK4_0) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      dst[j] = static_cast<float>((b[i].qs[j] & 0xf) - 8) * d;
      dst[j + 16] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void q4_1_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK4_1; ++i, dst += kQK4_1) {
    const float d = fp16_to_fp32(b[i].d);
    const float m = fp16_to_fp32(b[i].m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      dst[j] = static_cast<float>(b[i].qs[j] & 0xf) * d + m;
      dst[j + 16] = static_cast<float>(b[i].qs[j] >> 4) * d + m;
    }
  }
}

void q5_0_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK5_0; ++i, dst += kQK5_0) {
    const float d = fp16_to_fp32(b[i].d);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int lo = (b[i].qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (b[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      dst[j] = static_cast<float>(lo - 16) * d;
      dst[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
}

void q5_1_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK5_1; ++i, dst += kQK5_1) {
    const float d = fp16_to_fp32(b[i].d);
    const float m = fp16_to_fp32(b[i].m);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int lo = (b[i].qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (b[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      dst[j] = static_cast<float>(lo) * d + m;
      dst[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

void q8_0_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i, dst += kQK8_0) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) dst[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

void q8_1_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / kQK8_1; ++i, dst += kQK8_1) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK8_1; ++j) dst[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

// The weight quantizers follow ggml's reference quantizers (the ones that made the model
// files): symmetric types map the signed extreme to the most negative level, so it is
// represented exactly; asymmetric types span [min, max].
void q4_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i, src += kQK4_0) {
    float amax, max;
    signed_absmax(src, kQK4_0, &amax, &max);
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int lo = clamp_trunc(src[j] * id + 8.5f, 15.0f);
      const int hi = clamp_trunc(src[j + 16] * id + 8.5f, 15.0f);
      b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void q4_1_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK4_1; ++i, src += kQK4_1) {
    float mn, mx;
    min_max(src, kQK4_1, &mn, &mx);
    const float d = (mx - mn) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(mn);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int lo = clamp_trunc((src[j] - mn) * id + 0.5f, 15.0f);
      const int hi = clamp_trunc((src[j + 16] - mn) * id + 0.5f, 15.0f);
      b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void q5_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK5_0; ++i, src += kQK5_0) {
    float amax, max;
    signed_absmax(src, kQK5_0, &amax, &max);
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int lo = clamp_trunc(src[j] * id + 16.5f, 31.0f);
      const int hi = clamp_trunc(src[j + 16] * id + 16.5f, 31.0f);
      b[i].qs[j] = static_cast<uint8_t>((lo & 0xf) | ((hi & 0xf) << 4));
      qh |= static_cast<uint32_t>(lo >> 4) << j;
      qh |= static_cast<uint32_t>(hi >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

void q5_1_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK5_1; ++i, src += kQK5_1) {
    float mn, mx;
    min_max(src, kQK5_1, &mn, &mx);
    const float d = (mx - mn) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(mn);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int lo = clamp_trunc((src[j] - mn) * id + 0.5f, 31.0f);
      const int hi = clamp_trunc((src[j + 16] - mn) * id + 0.5f, 31.0f);
      b[i].qs[j] = static_cast<uint8_t>((lo & 0xf) | ((hi & 0xf) << 4));
      qh |= static_cast<uint32_t>(lo >> 4) << j;
      qh |= static_cast<uint32_t>(hi >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

void q8_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i, src += kQK8_0) {
    float d;
    quantize_q8_block(src, b[i].qs, &d);
    b[i].d = fp32_to_fp16(d);
  }
}

void q8_1_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK8_1; ++i, src += kQK8_1) {
    float d;
    const int sum = quantize_q8_block(src, b[i].qs, &d);
    b[i].d = fp32_to_fp16(d);
    b[i].s = fp32_to_fp16(d * static_cast<float>(sum));
  }
}

void vec_dot_q4_0_q8_0(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK8_0 / 2; ++j) {
      sumi += ((a[i].qs[j] & 0xf) - 8) * b[i].qs[j];
      sumi += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
    }
    sum += fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d) * static_cast<float>(sumi);
  }
  *out = sum;
}

void vec_dot_q4_1_q8_1(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_1*>(w);
  const auto* b = static_cast<const BlockQ8_1*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK8_1; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK8_1 / 2; ++j) {
      sumi += (a[i].qs[j] & 0xf) * b[i].qs[j];
      sumi += (a[i].qs[j] >> 4) * b[i].qs[j + 16];
    }
    // sum_j (d_a q_j + m_a) d_b p_j = d_a d_b sum(q p) + m_a * (d_b sum(p)) = ... + m_a * s_b
    sum += fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d) * static_cast<float>(sumi) +
           fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
  }
  *out = sum;
}

void vec_dot_q5_0_q8_0(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const uint32_t qh = load_qh(a[i].qh);
    int sumi = 0;
    for (int j = 0; j < kQK8_0 / 2; ++j) {
      const int lo = (a[i].qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (a[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      sumi += (lo - 16) * b[i].qs[j] + (hi - 16) * b[i].qs[j + 16];
    }
    sum += fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d) * static_cast<float>(sumi);
  }
  *out = sum;
}

void vec_dot_q5_1_q8_1(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_1*>(w);
  const auto* b = static_cast<const BlockQ8_1*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK8_1; ++i) {
    const uint32_t qh = load_qh(a[i].qh);
    int sumi = 0;
    for (int j = 0; j < kQK8_1 / 2; ++j) {
      const int lo = (a[i].qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (a[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      sumi += lo * b[i].qs[j] + hi * b[i].qs[j + 16];
    }
    sum += fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d) * static_cast<float>(sumi) +
           fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
  }
  *out = sum;
}

void vec_dot_q8_0_q8_0(int64_t n, float* out, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ8_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK8_0; ++j) sumi += a[i].qs[j] * b[i].qs[j];
    sum += fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d) * static_cast<float>(sumi);
  }
  *out = sum;
}

}  // namespace airt::hal::generic
