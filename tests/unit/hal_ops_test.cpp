// Row operations of the reference table against straightforward double-precision
// formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "hal/cpu/kernels.h"
#include "hal/fp16.h"

namespace airt::hal {
namespace {

const Kernels& K() { return kernels_generic(); }

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = g(rng);
  return v;
}

TEST(Ops, RmsNorm) {
  for (int64_t n : {1, 7, 64, 4096 + 3}) {
    const auto x = gaussian(n, 1, 3.0f), w = gaussian(n, 2);
    std::vector<float> y(static_cast<size_t>(n));
    const float eps = 1e-5f;
    K().rms_norm(x.data(), w.data(), y.data(), n, eps);
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double scale = 1.0 / std::sqrt(ss / double(n) + eps);
    for (int64_t i = 0; i < n; ++i) {
      const double want = x[i] * scale * w[i];
      ASSERT_NEAR(y[i], want, 1e-6 * (std::fabs(want) + 1e-3)) << "n=" << n << " i=" << i;
    }
  }
  // In place (y == x) is allowed: the forward pass normalises its residual copy in place.
  std::vector<float> x = {3.0f, 4.0f}, w = {1.0f, 2.0f};
  K().rms_norm(x.data(), w.data(), x.data(), 2, 0.0f);
  EXPECT_NEAR(x[0], 3.0 / std::sqrt(12.5), 1e-6);
  EXPECT_NEAR(x[1], 8.0 / std::sqrt(12.5), 1e-6);
}

TEST(Ops, Softmax) {
  for (int64_t n : {1, 5, 100, 32000 + 7}) {
    auto x = gaussian(n, 3, 4.0f);
    x[0] = 80.0f;  // exp(80) overflows f32: the max must be subtracted first
    const auto in = x;
    K().softmax(x.data(), n);
    double mx = -INFINITY, sum = 0;
    // (std::max, not std::fmax: GCC 12 for aarch64 crashes vectorising a mixed-type fmax reduction.)
    for (float v : in) mx = std::max(mx, double(v));
    for (float v : in) sum += std::exp(double(v) - mx);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double want = std::exp(double(in[i]) - mx) / sum;
      ASSERT_NEAR(x[i], want, 1e-6 * want + 1e-12) << "n=" << n << " i=" << i;
      total += x[i];
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
  // Masked entries (-inf) get exactly zero; a fully masked row gives zeros, not NaN.
  std::vector<float> m = {1.0f, -INFINITY, 1.0f};
  K().softmax(m.data(), 3);
  EXPECT_EQ(m[1], 0.0f);
  EXPECT_FLOAT_EQ(m[0], 0.5f);
  std::vector<float> all = {-INFINITY, -INFINITY};
  K().softmax(all.data(), 2);
  EXPECT_EQ(all[0], 0.0f);
  EXPECT_EQ(all[1], 0.0f);
}

TEST(Ops, SiluMul) {
  const int64_t n = 1000 + 1;
  auto g = gaussian(n, 4, 5.0f), u = gaussian(n, 5);
  g[0] = -100.0f;  // exp(100) overflows: silu must still be -0, not NaN
  g[1] = 100.0f;
  std::vector<float> out(static_cast<size_t>(n));
  K().silu_mul(g.data(), u.data(), out.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double want = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
    ASSERT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-30) << i;
  }
}

// Rotation by theta_i = pos * freq_scale * base^(-2i/n_rot) in double.
std::vector<double> rope_ref(const std::vector<float>& x, int64_t n_rot, int64_t pos, double base,
                             double fs, bool neox) {
  std::vector<double> y(x.begin(), x.end());
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const double th = double(pos) * fs * std::pow(base, -2.0 * double(i) / double(n_rot));
    const int64_t a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
    y[a] = x[a] * std::cos(th) - x[b] * std::sin(th);
    y[b] = x[a] * std::sin(th) + x[b] * std::cos(th);
  }
  return y;
}

TEST(Ops, RopeBothModes) {
  for (bool neox : {false, true}) {
    for (int64_t pos : {0, 1, 5, 77, 1000, 4095}) {
      for (float fs : {1.0f, 0.25f}) {
        const int64_t head_dim = 128, n_rot = neox ? 64 : 128;
        auto x = gaussian(head_dim, 6 + static_cast<uint32_t>(pos));
        const auto in = x;
        K().rope(x.data(), head_dim, n_rot, pos, 10000.0f, fs, neox);
        const auto want = rope_ref(in, n_rot, pos, 10000.0, fs, neox);
        // f32 angles: the error grows with the angle (pos) as in every f32 implementation.
        const double tol = 2e-6 + 2e-7 * double(pos) * fs;
        for (int64_t i = 0; i < head_dim; ++i) {
          ASSERT_NEAR(x[i], want[i], tol * 4) << "neox=" << neox << " pos=" << pos << " i=" << i;
        }
        for (int64_t i = n_rot; i < head_dim; ++i) EXPECT_EQ(x[i], in[i]) << "unrotated tail changed";
      }
    }
  }
  // Mode matters: with pos 1 the llama mode turns (x0, x1) by 1 radian, neox turns (x0, x32).
  std::vector<float> a(64, 0.0f);
  a[0] = 1.0f;
  auto b = a;
  K().rope(a.data(), 64, 64, 1, 10000.0f, 1.0f, false);
  K().rope(b.data(), 64, 64, 1, 10000.0f, 1.0f, true);
  EXPECT_NEAR(a[1], std::sin(1.0), 1e-6);
  EXPECT_EQ(a[32], 0.0f);
  EXPECT_NEAR(b[32], std::sin(1.0), 1e-6);
  EXPECT_EQ(b[1], 0.0f);
}

TEST(Ops, AxpyAndF16Rows) {
  const int64_t n = 333;
  const auto x = gaussian(n, 8);
  auto y = gaussian(n, 9);
  const auto y0 = y;
  K().axpy(n, -0.5f, x.data(), y.data());
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], y0[i] + -0.5f * x[i]);
  std::vector<uint16_t> h(static_cast<size_t>(n));
  std::vector<float> back(static_cast<size_t>(n));
  K().f32_to_f16(x.data(), h.data(), n);
  K().f16_to_f32(h.data(), back.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(h[i], fp32_to_fp16(x[i]));
    EXPECT_EQ(back[i], fp16_to_fp32(h[i]));
  }
}

}  // namespace
}  // namespace airt::hal
