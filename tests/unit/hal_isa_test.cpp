// CPU feature detection, kernel table selection, and every ISA variant against its generic
// twin: dot products within a normalised bound over odd sizes, gemm equal to the variant's
// own vec_dot loops, quantizers bit-identical. Variants this CPU cannot run are skipped.
#include <gtest/gtest.h>

#include <string_view>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hal/cpu/features.h"
#include "hal/cpu/kernels.h"
#include "tests/unit/hal_test_util.h"

#if defined(__aarch64__)
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace airt::hal {
namespace {

const Kernels& G() { return kernels_generic(); }

TEST(CpuFeatures, ConsistentLevels) {
  const CpuFeatures& f = cpu_features();
  EXPECT_FALSE(f.describe().empty());
  if (f.has_avx512_level()) {
    EXPECT_TRUE(f.has_avx2_level());
  }
  EXPECT_EQ(&f, &cpu_features());
#if defined(__x86_64__)
  EXPECT_FALSE(f.asimd);
  // The compiler's own view of this CPU must agree with ours.
  __builtin_cpu_init();
  EXPECT_EQ(f.avx2, static_cast<bool>(__builtin_cpu_supports("avx2")));
  EXPECT_EQ(f.fma, static_cast<bool>(__builtin_cpu_supports("fma")));
  EXPECT_EQ(f.avx512f, static_cast<bool>(__builtin_cpu_supports("avx512f")));
  EXPECT_EQ(f.avx512bw, static_cast<bool>(__builtin_cpu_supports("avx512bw")));
  EXPECT_EQ(f.avx512vnni, static_cast<bool>(__builtin_cpu_supports("avx512vnni")));
#elif defined(__aarch64__)
  EXPECT_TRUE(f.asimd) << "every aarch64 Linux CPU has Advanced SIMD";
  EXPECT_FALSE(f.avx2);
  if (f.has_dotprod_level()) {
    EXPECT_TRUE(f.asimddp);
    EXPECT_TRUE(f.fphp);
  }
#endif
}

#if defined(__aarch64__)
// Runs one instruction (its encoding) in a child process: true when it executes, false
// when the CPU (or qemu's emulated CPU) rejects it with SIGILL.
bool instruction_runs(void (*run)()) {
  const pid_t pid = fork();
  if (pid == 0) {
    run();
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  if (WIFSIGNALED(status)) {
    EXPECT_EQ(WTERMSIG(status), SIGILL) << "unexpected signal";
    return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// getauxval's answer must match what the CPU really executes, checked by executing it:
// under `qemu-aarch64 -cpu cortex-a72` SDOT must fault and the dotprod kernels must not be
// chosen; under `-cpu max` (or on a Cortex-A76) both must work.
TEST(CpuFeatures, DetectionMatchesExecution) {
  const CpuFeatures& f = cpu_features();
  // sdot v0.4s, v1.16b, v2.16b
  const bool sdot = instruction_runs([] { __asm__ volatile(".inst 0x4e829420" ::: "v0"); });
  EXPECT_EQ(sdot, f.asimddp) << f.describe();
  // fadd v0.8h, v1.8h, v2.8h (Armv8.2 half-precision arithmetic)
  const bool fp16 = instruction_runs([] { __asm__ volatile(".inst 0x4e421420" ::: "v0"); });
  EXPECT_EQ(fp16, f.fphp) << f.describe();
  std::printf("cpu: %s; kernels: %s\n", f.describe().c_str(), kernels_available().c_str());
}
#endif

TEST(KernelSelect, NamesAndErrors) {
  auto g = kernels_select("generic");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, &G());
  EXPECT_STREQ((*g)->isa, "generic");

  auto best = kernels_select("auto");
  ASSERT_TRUE(best.ok());
  const std::string avail = kernels_available();
  EXPECT_EQ(avail.substr(avail.rfind(' ') + 1), (*best)->isa) << avail;

  auto bad = kernels_select("sse9");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Error::kBackendUnsupported);
  EXPECT_NE(bad.error().message.find("unknown ISA"), std::string::npos) << bad.error().message;
#if defined(__x86_64__)
  auto neon = kernels_select("neon");
  ASSERT_FALSE(neon.ok());
  EXPECT_NE(neon.error().message.find("not built"), std::string::npos) << neon.error().message;
#elif defined(__aarch64__)
  auto avx2 = kernels_select("avx2");
  ASSERT_FALSE(avx2.ok());
  EXPECT_NE(avx2.error().message.find("not built"), std::string::npos) << avx2.error().message;
#endif
}

#if defined(__aarch64__)
// NEON runs on every aarch64 CPU; dotprod only where the CPU has SDOT and FP16, and asking
// for it elsewhere (AIRT_CPU_ISA=dotprod on a Raspberry Pi 4) is an error that says so.
TEST(KernelSelect, Aarch64Variants) {
  auto neon = kernels_select("neon");
  ASSERT_TRUE(neon.ok()) << neon.error().message;
  EXPECT_STREQ((*neon)->isa, "neon");
  auto best = kernels_select("auto");
  ASSERT_TRUE(best.ok());
  if (cpu_features().has_dotprod_level()) {
    EXPECT_STREQ((*best)->isa, "dotprod");
    EXPECT_EQ(kernels_available(), "generic neon dotprod");
    return;
  }
  EXPECT_STREQ((*best)->isa, "neon");
  EXPECT_EQ(kernels_available(), "generic neon");
  auto dp = kernels_select("dotprod");
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(dp.error().code, Error::kBackendUnsupported);
  EXPECT_NE(dp.error().message.find("lacks"), std::string::npos) << dp.error().message;
  ASSERT_EQ(setenv("AIRT_CPU_ISA", "dotprod", 1), 0);
  auto env = kernels_best();
  ASSERT_EQ(unsetenv("AIRT_CPU_ISA"), 0);
  ASSERT_FALSE(env.ok());
  const std::string& msg = env.error().message;
  EXPECT_NE(msg.find("AIRT_CPU_ISA=dotprod"), std::string::npos) << msg;
  EXPECT_NE(msg.find("use one of: generic neon"), std::string::npos) << msg;
}
#endif

#if defined(__x86_64__)
// amx layers over avx512 only where the CPU has AMX-TILE and AMX-INT8 and Linux granted
// the tile state; AIRT_CPU_ISA=avx512 excludes it; elsewhere asking for it says why.
TEST(KernelSelect, AmxOverAvx512) {
  const CpuFeatures& f = cpu_features();
  if (f.amx_granted) {
    EXPECT_TRUE(f.amx_tile && f.amx_int8);
  }
  if (!f.has_amx_level()) {
    auto amx = kernels_select("amx");
    ASSERT_FALSE(amx.ok());
    EXPECT_EQ(amx.error().code, Error::kBackendUnsupported);
    EXPECT_NE(amx.error().message.find("lacks"), std::string::npos) << amx.error().message;
    GTEST_SKIP() << "no AMX-INT8 here (or no OS permission for it): " << f.describe();
  }
  EXPECT_TRUE(f.has_avx512_level());
  auto amx = kernels_select("amx");
  auto a5 = kernels_select("avx512");
  ASSERT_TRUE(amx.ok() && a5.ok());
  EXPECT_STREQ((*amx)->isa, "amx");
  EXPECT_EQ(*kernels_select("auto"), *amx);
  ASSERT_EQ(setenv("AIRT_CPU_ISA", "avx512", 1), 0);
  auto env = kernels_best();
  ASSERT_EQ(unsetenv("AIRT_CPU_ISA"), 0);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(*env, *a5);
  // Only the Q4_0 / Q8_0 tiled products are its own; everything else is avx512's.
  for (uint32_t t = 0; t < kDTypeCount; ++t) {
    const TypeKernels& x = (*amx)->types[t];
    const TypeKernels& y = (*a5)->types[t];
    const bool own = t == uint32_t(DType::kQ4_0) || t == uint32_t(DType::kQ8_0);
    EXPECT_EQ(x.tile_gemm != y.tile_gemm, own) << dtype_name(DType(t));
    EXPECT_EQ(x.vec_dot, y.vec_dot) << dtype_name(DType(t));
    EXPECT_EQ(x.gemm, y.gemm) << dtype_name(DType(t));
  }
  EXPECT_EQ((*amx)->attention, (*a5)->attention);
}
#endif

TEST(KernelSelect, HonoursEnvironment) {
  ASSERT_EQ(setenv("AIRT_CPU_ISA", "generic", 1), 0);
  auto g = kernels_best();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, &G());
  ASSERT_EQ(setenv("AIRT_CPU_ISA", "nonsense", 1), 0);
  auto bad = kernels_best();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("AIRT_CPU_ISA=nonsense"), std::string::npos) << bad.error().message;
  ASSERT_EQ(unsetenv("AIRT_CPU_ISA"), 0);
  auto a = kernels_best();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, *kernels_select("auto"));
}

const DType kAllTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                           DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ8_1, DType::kQ2_K,
                           DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K};

struct Case {
  const char* isa;
  DType type;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.isa) + "_" + dtype_name(info.param.type);
}

class IsaVsGeneric : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    auto k = kernels_select(GetParam().isa);
    if (!k.ok()) GTEST_SKIP() << k.error().message;
    fast_ = *k;
  }
  const Kernels* fast_ = nullptr;
};

std::vector<int64_t> sizes_for(DType t) {
  const int64_t bs = dtype_info(t).block_size;
  if (bs == 1) return {1, 7, 15, 16, 17, 31, 33, 100, 4096 + 7};
  if (bs == 32) return {32, 64, 96, 160, 512 * 3 + 32, 4096 + 32};
  return {256, 512, 768, 4096 + 256};
}

TEST_P(IsaVsGeneric, TableComplete) {
  const TypeKernels& f = fast_->of(GetParam().type);
  const TypeKernels& g = G().of(GetParam().type);
  EXPECT_EQ(f.vec_dot_type, g.vec_dot_type);
  EXPECT_EQ(f.to_float == nullptr, g.to_float == nullptr);
  EXPECT_EQ(f.from_float == nullptr, g.from_float == nullptr);
  EXPECT_EQ(f.vec_dot == nullptr, g.vec_dot == nullptr);
  EXPECT_EQ(f.gemm == nullptr, g.gemm == nullptr);
  EXPECT_NE(fast_->rms_norm, nullptr);
  EXPECT_NE(fast_->softmax, nullptr);
  EXPECT_NE(fast_->rope, nullptr);
}

TEST_P(IsaVsGeneric, ConversionsBitIdentical) {
  const DType t = GetParam().type;
  const TypeKernels& f = fast_->of(t);
  const TypeKernels& g = G().of(t);
  std::mt19937 rng(41);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (int64_t n : sizes_for(t)) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = nd(rng);
    x[0] = 0.0f;
    if (g.from_float) {
      std::vector<uint8_t> a(dtype_row_bytes(t, n)), b(a.size());
      g.from_float(x.data(), a.data(), n);
      f.from_float(x.data(), b.data(), n);
      EXPECT_EQ(a, b) << fast_->isa << " " << dtype_name(t) << " from_float n=" << n;
    }
    if (g.to_float) {
      const auto q = test::random_weights(t, n, rng);
      std::vector<float> a(static_cast<size_t>(n)), b(a.size());
      g.to_float(q.data(), a.data(), n);
      f.to_float(q.data(), b.data(), n);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << dtype_name(t) << " to_float n=" << n;
    }
  }
}

// |fast - generic| <= 1e-5 * sum |w_i x_i| (both are exact integer dots scaled per block;
// only the order of the f32 additions differs).
TEST_P(IsaVsGeneric, VecDotMatchesGeneric) {
  const DType t = GetParam().type;
  const TypeKernels& f = fast_->of(t);
  const TypeKernels& g = G().of(t);
  if (!g.vec_dot) GTEST_SKIP() << dtype_name(t) << " is not a weight type";
  std::mt19937 rng(43);
  for (int64_t n : sizes_for(t)) {
    for (int rep = 0; rep < 3; ++rep) {
      const auto w = test::random_weights(t, n, rng);
      const auto x = test::random_activations(G(), g.vec_dot_type, n, rng);
      const auto wf = test::rows_as_float(G(), t, w.data(), n);
      const auto xf = test::rows_as_float(G(), g.vec_dot_type, x.data(), n);
      double mag = 0;
      for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(wf[i]) * xf[i]);
      float want = 0, got = 0;
      g.vec_dot(n, &want, w.data(), x.data());
      f.vec_dot(n, &got, w.data(), x.data());
      EXPECT_LE(std::fabs(double(got) - want), 1e-5 * mag + 1e-30)
          << fast_->isa << " " << dtype_name(t) << " n=" << n << " got " << got << " want " << want;
    }
  }
}

TEST_P(IsaVsGeneric, GemmEqualsOwnVecDot) {
  const DType t = GetParam().type;
  const TypeKernels& f = fast_->of(t);
  if (!f.gemm) GTEST_SKIP() << dtype_name(t) << " is not a weight type";
  std::mt19937 rng(47);
  const int64_t k = sizes_for(t)[2];
  const int64_t rows = 6;
  const size_t ws = dtype_row_bytes(t, k), xs = dtype_row_bytes(f.vec_dot_type, k);
  std::vector<uint8_t> w;
  for (int r = 0; r < rows; ++r) {
    const auto row = test::random_weights(t, k, rng);
    w.insert(w.end(), row.begin(), row.end());
  }
  for (int64_t cols : {1, 3, 4, 5, 9}) {
    std::vector<uint8_t> x;
    for (int c = 0; c < cols; ++c) {
      const auto col = test::random_activations(G(), f.vec_dot_type, k, rng);
      x.insert(x.end(), col.begin(), col.end());
    }
    const int64_t ldo = rows + 1;
    std::vector<float> out(static_cast<size_t>(ldo * cols), -3.0f);
    f.gemm(k, 1, 5, cols, w.data(), ws, x.data(), xs, out.data(), ldo);
    for (int64_t c = 0; c < cols; ++c) {
      for (int64_t r = 0; r < ldo; ++r) {
        if (r < 1 || r >= 5) {
          ASSERT_EQ(out[c * ldo + r], -3.0f) << "gemm wrote outside rows [r0, r1)";
          continue;
        }
        float want = 0;
        f.vec_dot(k, &want, w.data() + r * ws, x.data() + c * xs);
        ASSERT_EQ(out[c * ldo + r], want) << fast_->isa << " " << dtype_name(t) << " cols=" << cols;
      }
    }
  }
}

// The x86 K-quant fast dots keep everything inside a super-block in exact integers and the
// generic float expression per super-block, so they equal the generic twins to the bit.
// (The aarch64 ones sum per-block floats in another order — and GCC may contract the
// generic twin's float expression into FMAs there — so they are held to the normalised
// bound of VecDotMatchesGeneric instead.)
TEST_P(IsaVsGeneric, KQuantDotsBitIdentical) {
  const DType t = GetParam().type;
  if (t != DType::kQ4_K && t != DType::kQ6_K) GTEST_SKIP() << "only Q4_K and Q6_K promise bit identity";
  if (std::string_view(fast_->isa) == "neon" || std::string_view(fast_->isa) == "dotprod")
    GTEST_SKIP() << "aarch64 K-quant dots are checked within a normalised bound (VecDotMatchesGeneric)";
  std::mt19937 rng(59);
  for (int64_t n : sizes_for(t)) {
    const auto w = test::random_weights(t, n, rng);
    const auto x = test::random_activations(G(), DType::kQ8_K, n, rng);
    float want = 0, got = 0;
    G().of(t).vec_dot(n, &want, w.data(), x.data());
    fast_->of(t).vec_dot(n, &got, w.data(), x.data());
    EXPECT_EQ(got, want) << fast_->isa << " " << dtype_name(t) << " n=" << n;
  }
}

#if defined(__x86_64__)
// The AVX-512 Q8_0/Q4_0 dots group several blocks per vector and so add floats in another
// order than the AVX2 ones; both are exact in their integer part, so they agree within
// rounding of the per-block float sums.
TEST(IsaAgreement, Avx512AgreesWithAvx2) {
  auto a2 = kernels_select("avx2");
  auto a5 = kernels_select("avx512");
  if (!a2.ok() || !a5.ok()) GTEST_SKIP() << "needs a CPU with AVX-512 VNNI";
  std::mt19937 rng(53);
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    for (int64_t n : {32, 64, 96, 128, 160, 4096 + 32, 4096 * 3 + 96}) {
      const auto w = test::random_weights(t, n, rng);
      const auto x = test::random_activations(G(), DType::kQ8_0, n, rng);
      const auto wf = test::rows_as_float(G(), t, w.data(), n);
      const auto xf = test::rows_as_float(G(), DType::kQ8_0, x.data(), n);
      double mag = 0;
      for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(wf[i]) * xf[i]);
      float r2 = 0, r5 = 0;
      (*a2)->of(t).vec_dot(n, &r2, w.data(), x.data());
      (*a5)->of(t).vec_dot(n, &r5, w.data(), x.data());
      EXPECT_LE(std::fabs(double(r2) - r5), 1e-5 * mag) << dtype_name(t) << " n=" << n;
    }
  }
}
#endif

std::vector<Case> all_cases() {
  std::vector<Case> v;
  // The variants built for this architecture; those the CPU lacks skip at run time.
#if defined(__x86_64__)
  const char* const isas[] = {"avx2", "avx512", "amx"};
#elif defined(__aarch64__)
  const char* const isas[] = {"neon", "dotprod"};
#else
  const char* const isas[] = {"generic"};
#endif
  for (const char* isa : isas) {
    for (DType t : kAllTypes) v.push_back({isa, t});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Isa, IsaVsGeneric, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace airt::hal
