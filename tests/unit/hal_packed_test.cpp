// Q4_0 weights repacked in 16-row panels (hal/cpu/packed.h): the layout round-trips byte
// for byte; the generic packed product equals the generic vec_dot of each unpacked row to
// the bit; every table's packed product, through hal::matmul on 1 and 2 threads, matches
// the same table's product over the unpacked rows within the bound the other fast paths
// keep, for every column count the engine's steps use (1..17, and both sides of 32 and
// 64); a column's result does not
// depend on the columns beside it.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "hal/cpu/kernels.h"
#include "hal/cpu/matmul.h"
#include "hal/cpu/packed.h"
#include "hal/cpu/thread_pool.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/pool_scratch.h"
#include "tests/unit/hal_test_util.h"

namespace airt::hal {
namespace {

std::vector<uint8_t> random_rows(int64_t rows, int64_t k, std::mt19937& rng) {
  std::vector<uint8_t> w;
  for (int64_t r = 0; r < rows; ++r) {
    auto row = test::random_weights(DType::kQ4_0, k, rng);
    w.insert(w.end(), row.begin(), row.end());
  }
  return w;
}

TEST(Packed, OnlyQ4_0InWholePanels) {
  EXPECT_TRUE(packable(DType::kQ4_0, 32, 64));
  EXPECT_FALSE(packable(DType::kQ4_0, 40, 64)) << "a partial panel";
  EXPECT_FALSE(packable(DType::kQ8_0, 32, 64));
  EXPECT_FALSE(packable(DType::kQ4_0, 0, 64));
}

TEST(Packed, RoundTripsByteForByte) {
  std::mt19937 rng(7);
  const int64_t rows = 48, k = 96;
  const size_t rb = dtype_row_bytes(DType::kQ4_0, k);
  auto w = random_rows(rows, k, rng);
  std::vector<uint8_t> packed(w.size()), back(w.size());
  pack_rows(DType::kQ4_0, w.data(), rb, rows, k, packed.data());
  EXPECT_NE(packed, w);
  unpack_rows(DType::kQ4_0, packed.data(), rows, k, back.data(), rb);
  EXPECT_EQ(back, w);
}

TEST(Packed, GenericProductIsVecDotToTheBit) {
  const Kernels& g = kernels_generic();
  const TypeKernels& tk = g.of(DType::kQ4_0);
  ASSERT_NE(tk.packed_gemm, nullptr);
  std::mt19937 rng(3);
  const int64_t rows = 32, k = 256, n = 3;
  const size_t rb = dtype_row_bytes(DType::kQ4_0, k), xb = dtype_row_bytes(DType::kQ8_0, k);
  auto w = random_rows(rows, k, rng);
  std::vector<uint8_t> packed(w.size()), xq(size_t(n) * xb);
  pack_rows(DType::kQ4_0, w.data(), rb, rows, k, packed.data());
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> x(size_t(n * k));
  for (auto& v : x) v = gauss(rng);
  for (int64_t c = 0; c < n; ++c) g.of(DType::kQ8_0).from_float(x.data() + c * k, xq.data() + c * xb, k);
  std::vector<float> got(size_t(n * rows));
  tk.packed_gemm(k, 0, rows, n, packed.data(), xq.data(), xb, got.data(), rows, nullptr);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t r = 0; r < rows; ++r) {
      float want;
      tk.vec_dot(k, &want, w.data() + r * rb, xq.data() + c * xb);
      EXPECT_EQ(got[size_t(c * rows + r)], want) << "row " << r << " column " << c;
    }
}

class PackedVsGeneric : public ::testing::TestWithParam<const char*> {};

TEST_P(PackedVsGeneric, EveryColumnCountOnOneAndTwoThreads) {
  auto ks = kernels_select(GetParam());
  if (!ks.ok()) GTEST_SKIP() << ks.error().message;
  const Kernels& k = **ks;
  std::mt19937 rng(11);
  auto pool = ThreadPool::create(2).value();
  Arena scratch = airt::test::attach_scratch(*pool);
  for (int64_t kk : {int64_t(64), int64_t(2048), int64_t(5632)}) {
    const int64_t rows = kk == 5632 ? 32 : 48;
    const size_t rb = dtype_row_bytes(DType::kQ4_0, kk);
    auto w = random_rows(rows, kk, rng);
    std::vector<uint8_t> packed(w.size());
    pack_rows(DType::kQ4_0, w.data(), rb, rows, kk, packed.data());
    const MatrixView raw{w.data(), DType::kQ4_0, kk, rows, rb};
    MatrixView pv = raw;
    pv.data = packed.data();
    pv.packed = true;
    for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 31, 33, 63, 65}) {
      if (kk == 5632 && n > 17) continue;
      std::normal_distribution<float> gauss(0.0f, 1.0f);
      std::vector<float> x(size_t(n * kk));
      for (auto& v : x) v = gauss(rng);
      std::vector<uint8_t> s1(matmul_scratch_bytes(k, raw, n) + 64),
          s2(matmul_scratch_bytes(k, pv, n) + 64);
      auto align = [](std::vector<uint8_t>& v) { return reinterpret_cast<void*>((uintptr_t(v.data()) + 63) & ~uintptr_t(63)); };
      std::vector<float> want(size_t(n * rows)), got(size_t(n * rows));
      // The same table over the rows as they are: the activations quantized alike (a
      // table's own Q8_0 quantizer may round a value the other way from the generic one),
      // so only the order of the float additions differs.
      matmul(nullptr, k, raw, x.data(), n, want.data(), rows, align(s1));
      for (int nth : {1, 2}) {
        pool->set_active(nth);
        airt::test::AllocScope no_alloc;
        matmul(pool.get(), k, pv, x.data(), n, got.data(), rows, align(s2));
        EXPECT_EQ(no_alloc.count(), 0);
        double err = 0, mag = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          err = std::max(err, double(std::fabs(got[i] - want[i])));
          mag = std::max(mag, double(std::fabs(want[i])));
        }
        // Integer block sums are exact; only the float additions' order may differ.
        EXPECT_LE(err, 2e-5 * std::sqrt(double(kk) / 32) * (mag + 1)) << GetParam() << " k " << kk << " n " << n
                                                                     << " threads " << nth;
      }
    }
  }
}

// The kernel's own entry, past what matmul's column counts reach: K with a partial last
// chunk of blocks (33 blocks) and K whose records for one column group span more than one
// pass over the weights (513 blocks), column counts that need two sweeps (130); a column's
// result must not depend on the columns beside it (the same bits as that column alone),
// and a row range gives the rows the whole range gives.
TEST_P(PackedVsGeneric, ColumnsAreIndependentOfEachOther) {
  auto ks = kernels_select(GetParam());
  if (!ks.ok()) GTEST_SKIP() << ks.error().message;
  const TypeKernels& tk = (*ks)->of(DType::kQ4_0);
  const TypeKernels& gk = kernels_generic().of(DType::kQ4_0);
  ASSERT_NE(tk.packed_gemm, nullptr);
  if (std::string(GetParam()) == "avx512" || std::string(GetParam()) == "amx") {
    EXPECT_TRUE(tk.packed_pays) << "the AVX-512 tables carry their own packed product";
  }
  std::mt19937 rng(5);
  std::vector<uint8_t> scratch_mem(kTileScratchBytes + 64);
  void* scratch = reinterpret_cast<void*>((uintptr_t(scratch_mem.data()) + 63) & ~uintptr_t(63));
  for (int64_t kk : {int64_t(1056), int64_t(16416)}) {
    const int64_t rows = 32;
    const size_t rb = dtype_row_bytes(DType::kQ4_0, kk), xb = dtype_row_bytes(DType::kQ8_0, kk);
    auto w = random_rows(rows, kk, rng);
    std::vector<uint8_t> packed(w.size());
    pack_rows(DType::kQ4_0, w.data(), rb, rows, kk, packed.data());
    for (int64_t n : {int64_t(1), int64_t(9), int64_t(130)}) {
      if (kk == 16416 && n > 9) continue;
      std::normal_distribution<float> gauss(0.0f, 1.0f);
      std::vector<float> x(size_t(n * kk));
      for (auto& v : x) v = gauss(rng);
      std::vector<uint8_t> xq(size_t(n) * xb);
      const TypeKernels& q8 = kernels_generic().of(DType::kQ8_0);
      for (int64_t c = 0; c < n; ++c) q8.from_float(x.data() + c * kk, xq.data() + c * xb, kk);
      std::vector<float> want(size_t(n * rows)), got(size_t(n * rows)), part(size_t(n * rows));
      std::vector<float> one(static_cast<size_t>(rows));
      gk.packed_gemm(kk, 0, rows, n, packed.data(), xq.data(), xb, want.data(), rows, nullptr);
      tk.packed_gemm(kk, 0, rows, n, packed.data(), xq.data(), xb, got.data(), rows, scratch);
      tk.packed_gemm(kk, 16, rows, n, packed.data(), xq.data(), xb, part.data(), rows, scratch);
      double err = 0, mag = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        err = std::max(err, double(std::fabs(got[i] - want[i])));
        mag = std::max(mag, double(std::fabs(want[i])));
      }
      EXPECT_LE(err, 2e-5 * std::sqrt(double(kk) / 32) * (mag + 1)) << GetParam() << " k " << kk << " n " << n;
      for (int64_t c = 0; c < n; ++c) {
        tk.packed_gemm(kk, 0, rows, 1, packed.data(), xq.data() + c * xb, xb, one.data(), rows, scratch);
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(got[size_t(c * rows + r)], one[size_t(r)])
              << "k " << kk << " n " << n << " column " << c << " row " << r;
          if (r >= 16) {
            ASSERT_EQ(part[size_t(c * rows + r)], got[size_t(c * rows + r)]) << "rows 16..31, column " << c;
          }
        }
      }
    }
  }
}

std::string isa_name(const ::testing::TestParamInfo<const char*>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Isa, PackedVsGeneric, ::testing::ValuesIn(test::isa_tables()), isa_name);

}  // namespace
}  // namespace airt::hal
