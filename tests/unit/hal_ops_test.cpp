// Row operations of every kernel table this CPU runs against straightforward
// double-precision formulas, and each table's attention against the reference one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <string>

#include "hal/cpu/kernels.h"
#include "hal/fp16.h"
#include "tests/unit/hal_test_util.h"

namespace airt::hal {
namespace {

class Ops : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    auto k = kernels_select(GetParam());
    if (!k.ok()) GTEST_SKIP() << k.error().message;
    k_ = *k;
  }
  const Kernels& K() const { return *k_; }
  const Kernels* k_ = nullptr;
};

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = g(rng);
  return v;
}

TEST_P(Ops, RmsNorm) {
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

TEST_P(Ops, Softmax) {
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

TEST_P(Ops, SiluMul) {
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

TEST_P(Ops, RopeBothModes) {
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

TEST_P(Ops, AxpyAndF16Rows) {
  const int64_t n = 333;
  const auto x = gaussian(n, 8);
  auto y = gaussian(n, 9);
  const auto y0 = y;
  K().axpy(n, -0.5f, x.data(), y.data());
  // Exact but for one rounding (a fused multiply-add skips the product's).
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(y[i], y0[i] + -0.5f * x[i], 1.2e-7 * (std::fabs(y0[i]) + std::fabs(0.5f * x[i])));
  }
  std::vector<uint16_t> h(static_cast<size_t>(n));
  std::vector<float> back(static_cast<size_t>(n));
  K().f32_to_f16(x.data(), h.data(), n);
  K().f16_to_f32(h.data(), back.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(h[i], fp32_to_fp16(x[i]));
    EXPECT_EQ(back[i], fp16_to_fp32(h[i]));
  }
}

// The rope kernel keeps the last position's angles: interleaving positions, modes and
// bases must give what a fresh call gives.
TEST_P(Ops, RopeInterleavedCalls) {
  struct Call {
    int64_t pos, n_rot;
    float base, fs;
    bool neox;
  };
  const Call calls[] = {{5, 64, 10000.0f, 1.0f, false}, {5, 64, 10000.0f, 1.0f, true}, {6, 64, 10000.0f, 1.0f, false},
                        {5, 32, 10000.0f, 1.0f, false}, {5, 64, 500000.0f, 1.0f, false}, {5, 64, 10000.0f, 0.5f, false},
                        {5, 64, 10000.0f, 1.0f, false}};
  for (const Call& c : calls) {
    auto x = gaussian(64, 11);
    const auto in = x;
    K().rope(x.data(), 64, c.n_rot, c.pos, c.base, c.fs, c.neox);
    const auto want = rope_ref(in, c.n_rot, c.pos, c.base, c.fs, c.neox);
    for (int64_t i = 0; i < 64; ++i) ASSERT_NEAR(x[i], want[i], 1e-5) << "pos=" << c.pos << " n_rot=" << c.n_rot;
  }
}

// Attention against the reference table's: rows with different key counts (causal),
// group sizes up to kAttnMaxRows, head sizes the fast path takes (64, 128) and one it
// leaves to the reference (80).
TEST_P(Ops, AttentionMatchesGeneric) {
  std::mt19937 rng(17);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int64_t hd : {64, 128, 80}) {
    for (int nq : {1, 3, 8, 16}) {
      for (int32_t n_base : {1, 7, 300}) {
        const int32_t n_ctx = n_base + 4;
        const size_t stride = size_t(hd) * 3;  // K/V rows of a 3-head cache, head 1 used
        std::vector<uint16_t> kc(static_cast<size_t>(n_ctx) * stride), vc(kc.size());
        for (auto& h : kc) h = fp32_to_fp16(g(rng));
        for (auto& h : vc) h = fp32_to_fp16(g(rng) * 2.0f);
        std::vector<std::vector<float>> q(static_cast<size_t>(nq)), want(q.size()), got(q.size());
        std::vector<const float*> qp;
        std::vector<float*> wp, gp;
        std::vector<int32_t> n_kv;
        for (int r = 0; r < nq; ++r) {
          q[size_t(r)].resize(size_t(hd));
          for (auto& v : q[size_t(r)]) v = g(rng) * 3.0f;
          want[size_t(r)].assign(size_t(hd), 0.0f);
          got[size_t(r)].assign(size_t(hd), -1.0f);
          qp.push_back(q[size_t(r)].data());
          wp.push_back(want[size_t(r)].data());
          gp.push_back(got[size_t(r)].data());
          n_kv.push_back(n_base + r % 4);
        }
        std::vector<uint8_t> scratch(attention_scratch_bytes(n_ctx, hd) + 64);
        void* s = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
        const float scale = 1.0f / std::sqrt(float(hd));
        // Keys in a scattered order (as a paged cache holds them), head 1 of each row.
        std::vector<const uint16_t*> kp, vp;
        for (int32_t j = 0; j < n_ctx; ++j) {
          const size_t row = size_t((j * 7) % n_ctx);
          kp.push_back(kc.data() + row * stride + size_t(hd));
          vp.push_back(vc.data() + row * stride + size_t(hd));
        }
        kernels_generic().attention(nq, hd, qp.data(), n_kv.data(), kp.data(), vp.data(), scale, wp.data(), s);
        K().attention(nq, hd, qp.data(), n_kv.data(), kp.data(), vp.data(), scale, gp.data(), s);
        for (int r = 0; r < nq; ++r) {
          for (int64_t d = 0; d < hd; ++d) {
            // Outputs are convex combinations of values of size ~2: a normalised bound.
            ASSERT_NEAR(got[size_t(r)][size_t(d)], want[size_t(r)][size_t(d)], 2e-5)
                << K().isa << " hd=" << hd << " nq=" << nq << " n_kv=" << n_kv[size_t(r)] << " r=" << r << " d=" << d;
          }
        }
      }
    }
  }
}

std::string isa_name(const ::testing::TestParamInfo<const char*>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Isa, Ops, ::testing::ValuesIn(test::isa_tables()), isa_name);

}  // namespace
}  // namespace airt::hal
