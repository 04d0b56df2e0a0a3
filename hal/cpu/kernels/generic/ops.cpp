// Row operations of the forward pass. The arithmetic order follows ggml's CPU ops (which
// the reference logits come from): sums of squares and of exponentials accumulate in
// double, everything else is f32.
#include <cmath>

#include "hal/cpu/kernels/generic/generic.h"

namespace airt::hal::generic {

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  // ggml normalises, then multiplies by the weight in a separate op: same rounding here.
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
  if (max == -INFINITY) {
    // Every score masked: there is no distribution; zeros keep NaN out of the output.
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

// theta_i = pos * freq_scale * base^(-2i/n_rot) for pair i. Like ggml, the powers of the
// base come from repeated multiplication by base^(-2/n_rot) in f32 (not one pow per pair),
// so angles agree with its to the last bit.
void rope(float* x, int64_t head_dim, int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
          bool neox) {
  (void)head_dim;  // dims in [n_rot, head_dim) pass through unchanged
  // Every head of a token, in every layer, turns by the same angles: the cos/sin of the
  // last position asked for are kept per thread, so one token's heads share one set.
  constexpr int64_t kMaxPairs = 512;
  struct Memo {
    int64_t pos = -1, n_rot = 0;
    float base = 0, scale = 0;
    float cs[2 * kMaxPairs];
  };
  thread_local Memo memo;
  const int64_t half = n_rot / 2;
  const bool fits = half <= kMaxPairs;
  if (!fits || memo.pos != pos || memo.n_rot != n_rot || memo.base != freq_base || memo.scale != freq_scale) {
    const float step = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
    float theta = static_cast<float>(pos);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = freq_scale * theta;
      const float c = std::cos(angle), s = std::sin(angle);
      if (fits) {
        memo.cs[2 * i] = c;
        memo.cs[2 * i + 1] = s;
      } else {
        float* a = neox ? x + i : x + 2 * i;
        float* b = neox ? x + i + half : x + 2 * i + 1;
        const float x0 = *a, x1 = *b;
        *a = x0 * c - x1 * s;
        *b = x0 * s + x1 * c;
      }
      theta *= step;
    }
    if (!fits) return;
    memo.pos = pos;
    memo.n_rot = n_rot;
    memo.base = freq_base;
    memo.scale = freq_scale;
  }
  for (int64_t i = 0; i < half; ++i) {
    const float c = memo.cs[2 * i], s = memo.cs[2 * i + 1];
    float* a = neox ? x + i : x + 2 * i;
    float* b = neox ? x + i + half : x + 2 * i + 1;
    const float x0 = *a, x1 = *b;
    *a = x0 * c - x1 * s;
    *b = x0 * s + x1 * c;
  }
}

void axpy(int64_t n, float a, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// One row at a time: f16 dot products, softmax, then the values added up in f32.
void attention(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
               const uint16_t* const* v, float scale, float* const* out, void* scratch) {
  int32_t n_max = 0;
  for (int r = 0; r < nq; ++r) n_max = n_kv[r] > n_max ? n_kv[r] : n_max;
  float* scores = static_cast<float*>(scratch);
  float* vrow = scores + n_max;
  auto* q16 = reinterpret_cast<uint16_t*>(vrow + hd);
  for (int r = 0; r < nq; ++r) {
    f32_to_f16_row(q[r], q16, hd);
    for (int32_t j = 0; j < n_kv[r]; ++j) {
      float s;
      vec_dot_f16(hd, &s, k[j], q16);
      scores[j] = s * scale;
    }
    softmax(scores, n_kv[r]);
    float* o = out[r];
    for (int64_t i = 0; i < hd; ++i) o[i] = 0.0f;
    for (int32_t j = 0; j < n_kv[r]; ++j) {
      f16_to_f32_row(v[j], vrow, hd);
      axpy(hd, scores[j], vrow, o);
    }
  }
}

}  // namespace airt::hal::generic
