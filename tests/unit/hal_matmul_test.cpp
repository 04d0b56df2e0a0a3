// The thread pool (every thread runs each job once, the pool sleeps and wakes, ranges
// split exactly) and the threaded matrix product: hal::matmul over every ISA table, weight
// type, thread count and path (streaming gemm, tiled) against a plain reference made of
// the generic vec_dot, within a normalised bound; the tiled kernels' activation format
// against the generic Q8_0 quantizer, to the bit.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hal/cpu/kernels.h"
#include "hal/cpu/matmul.h"
#include "hal/cpu/thread_pool.h"
#include "hal/fp16.h"
#include "hal/quant_blocks.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/pool_scratch.h"
#include "tests/unit/hal_test_util.h"

namespace airt::hal {
namespace {

const Kernels& G() { return kernels_generic(); }

// ---------------------------------------------------------------------------------------
// Thread pool

TEST(ThreadPool, RejectsBadCounts) {
  EXPECT_FALSE(ThreadPool::create(0).ok());
  EXPECT_FALSE(ThreadPool::create(-3).ok());
  auto p = ThreadPool::create(0);
  EXPECT_EQ(p.error().code, Error::kRequestOutOfRange);
}

TEST(ThreadPool, EveryThreadRunsEachJobOnce) {
  for (int n : {1, 2, 3, 5}) {
    auto pool = ThreadPool::create(n);
    ASSERT_TRUE(pool.ok()) << pool.error().message;
    EXPECT_EQ((*pool)->size(), n);
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::atomic<int> bad_nth{0};
    for (int job = 0; job < 2000; ++job) {
      auto f = [&](int ith, int nth) {
        if (nth != n) bad_nth.fetch_add(1);
        hits[size_t(ith)].fetch_add(1);
      };
      (*pool)->parallel(f);
      // Everything a job did is visible when run() returns.
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(std::memory_order_relaxed), job + 1);
    }
    EXPECT_EQ(bad_nth.load(), 0);
  }
}

TEST(ThreadPool, CallerIsThreadZero) {
  auto pool = ThreadPool::create(3);
  ASSERT_TRUE(pool.ok());
  const auto me = std::this_thread::get_id();
  std::thread::id ids[3];
  auto f = [&](int ith, int) { ids[ith] = std::this_thread::get_id(); };
  (*pool)->parallel(f);
  EXPECT_EQ(ids[0], me);
  EXPECT_NE(ids[1], me);
  EXPECT_NE(ids[2], me);
  EXPECT_NE(ids[1], ids[2]);
}

// Long gaps let the workers fall asleep on the futex; jobs must still run and finish.
TEST(ThreadPool, WakesFromSleep) {
  auto pool = ThreadPool::create(2);
  ASSERT_TRUE(pool.ok());
  std::atomic<int> sum{0};
  for (int job = 0; job < 4; ++job) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    auto f = [&](int ith, int) {
      // The worker, not the caller, is slow: the caller sleeps waiting for it.
      if (ith == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      sum.fetch_add(ith + 1);
    };
    (*pool)->parallel(f);
    EXPECT_EQ(sum.load(), 3 * (job + 1));
  }
}

TEST(ThreadPool, PinnedAndScratch) {
  auto pool = ThreadPool::create(2, /*pin=*/true);
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ((*pool)->scratch(0), nullptr) << "the pool allocates no scratch of its own";
  Arena mem = airt::test::attach_scratch(**pool);
  auto* s0 = static_cast<uint8_t*>((*pool)->scratch(0));
  auto* s1 = static_cast<uint8_t*>((*pool)->scratch(1));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s0) % 64, 0u);
  EXPECT_GE(size_t(s1 > s0 ? s1 - s0 : s0 - s1), kThreadScratchBytes);
  auto f = [&](int ith, int) { std::memset((*pool)->scratch(ith), ith + 1, kThreadScratchBytes); };
  (*pool)->parallel(f);
  EXPECT_EQ(s0[kThreadScratchBytes - 1], 1);
  EXPECT_EQ(s1[0], 2);
}

// Scratch is the caller's memory: too small or misaligned is refused with the sizes named.
TEST(ThreadPool, AttachScratchChecksSizeAndAlignment) {
  auto pool = ThreadPool::create(3);
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(ThreadPool::scratch_bytes(3), 3 * kThreadScratchBytes);
  EXPECT_EQ(ThreadPool::scratch_bytes(3) % 64, 0u);
  const size_t need = ThreadPool::scratch_bytes(3);
  std::vector<uint8_t> buf(need + 128);
  uint8_t* aligned = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
  Status small = (*pool)->attach_scratch(aligned, need - 1);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().message.find(std::to_string(need)), std::string::npos) << small.error().message;
  EXPECT_NE(small.error().message.find("3 threads"), std::string::npos) << small.error().message;
  Status odd = (*pool)->attach_scratch(aligned + 8, need);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.error().message.find("64-byte"), std::string::npos) << odd.error().message;
  ASSERT_TRUE((*pool)->attach_scratch(aligned, need).ok());
  EXPECT_EQ((*pool)->scratch(0), aligned);
  EXPECT_EQ((*pool)->scratch(2), aligned + 2 * kThreadScratchBytes);
}

// A step may use fewer threads than the pool owns: exactly indices 0..nth-1 run, once
// each, and switching allocates nothing and starts no thread.
TEST(ThreadPool, RunsOnTheActiveThreadsOnly) {
  auto pool = ThreadPool::create(4);
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ((*pool)->active(), 4);
  std::atomic<int> hits[4];
  std::atomic<int> bad{0};
  auto f = [&](int ith, int nth) {
    if (nth != (*pool)->active() || ith >= nth) bad.fetch_add(1);
    hits[ith].fetch_add(1);
  };
  airt::test::AllocScope allocs;
  for (int round = 0; round < 50; ++round) {
    for (int n : {1, 3, 4, 2}) {
      (*pool)->set_active(n);
      ASSERT_EQ((*pool)->active(), n);
      for (auto& h : hits) h.store(0);
      (*pool)->parallel(f);
      for (int i = 0; i < 4; ++i) ASSERT_EQ(hits[i].load(), i < n ? 1 : 0) << "n=" << n << " i=" << i;
    }
  }
  EXPECT_EQ(allocs.count(), 0);
  EXPECT_EQ(bad.load(), 0);
  (*pool)->set_active(0);
  EXPECT_EQ((*pool)->active(), 1);
  (*pool)->set_active(9);
  EXPECT_EQ((*pool)->active(), 4);
}

// Threads left out long enough to fall asleep are woken again when a step needs them.
TEST(ThreadPool, SleepingInactiveThreadsComeBack) {
  auto pool = ThreadPool::create(3);
  ASSERT_TRUE(pool.ok());
  std::atomic<int> sum{0};
  auto f = [&](int ith, int) { sum.fetch_add(ith + 1); };
  (*pool)->set_active(1);
  (*pool)->parallel(f);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  (*pool)->set_active(3);
  (*pool)->parallel(f);
  EXPECT_EQ(sum.load(), 1 + 6);
}

TEST(ThreadPool, PhysicalCores) {
  const int n = physical_cores();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, int(std::thread::hardware_concurrency() > 0 ? std::thread::hardware_concurrency() : 1024));
}

TEST(SplitRange, CoversExactlyOnceAligned) {
  for (int64_t n : {0, 1, 15, 16, 17, 100, 2048, 2049}) {
    for (int nth : {1, 2, 3, 7}) {
      for (int64_t align : {1, 4, 16}) {
        int64_t next = 0;
        for (int i = 0; i < nth; ++i) {
          int64_t b, e;
          split_range(n, i, nth, align, b, e);
          EXPECT_EQ(b, next);
          EXPECT_LE(b, e);
          if (e < n) {
            EXPECT_EQ(e % align, 0);
          }
          next = e;
        }
        EXPECT_EQ(next, n);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// matmul

const DType kWeightTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                              DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K, DType::kQ3_K,
                              DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

struct Problem {
  int64_t k, rows, n;
  std::vector<uint8_t> w;
  std::vector<float> x;
  std::vector<float> want;  // generic vec_dot of each (row, column)
  std::vector<float> mag;   // sum |w_i x_i| of each (row, column), for the bound
};

Problem make_problem(DType t, int64_t k, int64_t rows, int64_t n, std::mt19937& rng) {
  Problem p{k, rows, n, {}, {}, {}, {}};
  for (int64_t r = 0; r < rows; ++r) {
    auto row = test::random_weights(t, k, rng);
    p.w.insert(p.w.end(), row.begin(), row.end());
  }
  std::normal_distribution<float> g(0.0f, 1.0f);
  p.x.resize(size_t(n * k));
  for (auto& v : p.x) v = g(rng);
  const TypeKernels& tk = G().of(t);
  const size_t rb = dtype_row_bytes(t, k);
  const size_t xb = dtype_row_bytes(tk.vec_dot_type, k);
  std::vector<uint8_t> xq(xb);
  p.want.resize(size_t(n * rows));
  p.mag.resize(size_t(n * rows));
  for (int64_t c = 0; c < n; ++c) {
    G().of(tk.vec_dot_type).from_float(p.x.data() + c * k, xq.data(), k);
    const auto xf = test::rows_as_float(G(), tk.vec_dot_type, xq.data(), k);
    for (int64_t r = 0; r < rows; ++r) {
      tk.vec_dot(k, &p.want[size_t(c * rows + r)], p.w.data() + r * rb, xq.data());
      const auto wf = test::rows_as_float(G(), t, p.w.data() + r * rb, k);
      double m = 0;
      for (int64_t i = 0; i < k; ++i) m += std::fabs(double(wf[size_t(i)]) * xf[size_t(i)]);
      p.mag[size_t(c * rows + r)] = float(m);
    }
  }
  return p;
}

// Bytes between converted activation rows for `tk`'s gemm (f32 rows as they are).
size_t x_stride_of(const TypeKernels& tk, int64_t k) {
  return tk.vec_dot_type == DType::kF32 ? size_t(k) * sizeof(float) : dtype_row_bytes(tk.vec_dot_type, k);
}

// One activation row converted as matmul converts it for `tk` (nothing for f32).
void convert_row(const Kernels& ks, const TypeKernels& tk, const float* x, int64_t k, uint8_t* dst) {
  if (tk.vec_dot_type != DType::kF32) ks.of(tk.vec_dot_type).from_float(x, dst, k);
}

struct Case {
  const char* isa;
  DType type;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.isa) + "_" + dtype_name(info.param.type);
}

class MatmulVsGeneric : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    auto k = kernels_select(GetParam().isa);
    if (!k.ok()) GTEST_SKIP() << k.error().message;
    k_ = *k;
  }
  const Kernels* k_ = nullptr;
};

// Few columns stream through gemm, more take the tiled path where there is one (for some
// tables an unpacked lanes kernel below a packing threshold, panels above): every count from
// 1 to 20 and both sides of 32 and 64. 37 rows leave a partial panel, partial row blocks
// and uneven thread ranges.
TEST_P(MatmulVsGeneric, AllPathsAndThreadCounts) {
  const DType t = GetParam().type;
  const int64_t bs = dtype_info(t).block_size;
  const int64_t k = bs == 1 ? 96 + 17 : bs * (bs == 32 ? 7 : 3);
  const int64_t rows = 37;
  std::mt19937 rng(1234 + uint32_t(t));
  std::vector<int64_t> counts;
  for (int64_t n = 1; n <= 20; ++n) counts.push_back(n);
  for (int64_t n : {31, 32, 33, 47, 48, 64}) counts.push_back(n);
  for (int64_t n : counts) {
    const Problem p = make_problem(t, k, rows, n, rng);
    const MatrixView w{p.w.data(), t, k, rows, dtype_row_bytes(t, k)};
    std::vector<uint8_t> scratch(matmul_scratch_bytes(*k_, w, n) + 64);
    void* s = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
    for (int threads : {0, 1, 2, 3}) {
      std::unique_ptr<ThreadPool> pool;
      Arena pool_scratch;
      if (threads > 0) {
        pool = std::move(*ThreadPool::create(threads));
        pool_scratch = airt::test::attach_scratch(*pool);
      }
      const int64_t ldo = rows + 3;
      std::vector<float> out(size_t(n * ldo), -7.0f);
      matmul(pool.get(), *k_, w, p.x.data(), n, out.data(), ldo, s);
      for (int64_t c = 0; c < n; ++c) {
        for (int64_t r = 0; r < ldo; ++r) {
          const float got = out[size_t(c * ldo + r)];
          if (r >= rows) {
            ASSERT_EQ(got, -7.0f) << "wrote past the rows";
            continue;
          }
          const float want = p.want[size_t(c * rows + r)];
          ASSERT_LE(std::fabs(double(got) - want), 1e-5 * p.mag[size_t(c * rows + r)] + 1e-30)
              << k_->isa << " " << dtype_name(t) << " n=" << n << " threads=" << threads << " r=" << r << " c=" << c
              << " got " << got << " want " << want;
        }
      }
    }
  }
}

// One 4-thread pool running steps on 1, 3, 4 and 2 of its threads: every split gives the
// same bits on both paths (a row's dot never depends on the split), and switching the
// count allocates nothing.
TEST_P(MatmulVsGeneric, SameBitsOnEveryActiveCount) {
  const DType t = GetParam().type;
  const int64_t bs = dtype_info(t).block_size;
  const int64_t k = bs == 1 ? 96 + 17 : bs * 3, rows = 53;
  std::mt19937 rng(77 + uint32_t(t));
  auto pool = ThreadPool::create(4);
  ASSERT_TRUE(pool.ok()) << pool.error().message;
  Arena pool_scratch = airt::test::attach_scratch(**pool);
  for (int64_t n : {1, 6, 19, 40}) {
    const Problem p = make_problem(t, k, rows, n, rng);
    const MatrixView w{p.w.data(), t, k, rows, dtype_row_bytes(t, k)};
    std::vector<uint8_t> scratch(matmul_scratch_bytes(*k_, w, n) + 64);
    void* s = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
    std::vector<float> first(size_t(n * rows)), out(size_t(n * rows));
    for (int active : {1, 3, 4, 2}) {
      airt::test::AllocScope allocs;
      (*pool)->set_active(active);
      matmul(pool->get(), *k_, w, p.x.data(), n, out.data(), rows, s);
      EXPECT_EQ(allocs.count(), 0) << "active=" << active;
      if (active == 1) first = out;
      ASSERT_EQ(std::memcmp(first.data(), out.data(), out.size() * sizeof(float)), 0)
          << k_->isa << " " << dtype_name(t) << " n=" << n << " active=" << active;
    }
  }
}

// Tables whose every path adds up an output in one order, so a column's result does not
// depend on the columns beside it: the generic gemm (one vec_dot per output). The AVX-512
// decode kernel (1-4 columns) keeps two accumulator chains per column for speed, so there
// a column alone and inside a batch of 5 or more differ in the last bits.
bool batch_independent(const char* isa, DType) { return std::string(isa) == "generic"; }

// A matmul of n activation columns equals, to the bit, n matmuls of one column each: a
// sequence's logits are the same in a 1-row decode step and inside a batched or verify
// step. K crosses a summation chunk and ends in a partial group of blocks; 37 rows leave
// a partial panel; one and two threads.
TEST_P(MatmulVsGeneric, SameBitsWhateverTheBatch) {
  const DType t = GetParam().type;
  if (!batch_independent(k_->isa, t)) GTEST_SKIP() << k_->isa << " " << dtype_name(t) << " sums by batch size";
  const int64_t bs = dtype_info(t).block_size;
  const int64_t k = bs == 1 ? 96 + 17 : bs == 32 ? 32 * 131 : 256 * 3;
  const int64_t rows = 37;
  std::mt19937 rng(4321 + uint32_t(t));
  std::vector<int64_t> counts;
  for (int64_t n = 1; n <= 20; ++n) counts.push_back(n);
  for (int64_t n : {31, 33, 47, 48, 64}) counts.push_back(n);
  std::vector<uint8_t> w;
  for (int64_t r = 0; r < rows; ++r) {
    auto row = test::random_weights(t, k, rng);
    w.insert(w.end(), row.begin(), row.end());
  }
  const MatrixView mv{w.data(), t, k, rows, dtype_row_bytes(t, k)};
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(size_t(64 * k));
  for (auto& v : x) v = g(rng);
  std::vector<uint8_t> scratch(matmul_scratch_bytes(*k_, mv, 64) + 64);
  void* s = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
  for (int threads : {0, 2}) {
    std::unique_ptr<ThreadPool> pool;
    Arena pool_scratch;
    if (threads > 0) {
      pool = std::move(*ThreadPool::create(threads));
      pool_scratch = airt::test::attach_scratch(*pool);
    }
    std::vector<float> one(size_t(64 * rows));
    for (int64_t c = 0; c < 64; ++c) matmul(pool.get(), *k_, mv, x.data() + c * k, 1, one.data() + c * rows, rows, s);
    for (int64_t n : counts) {
      std::vector<float> out(size_t(n * rows));
      matmul(pool.get(), *k_, mv, x.data(), n, out.data(), rows, s);
      for (int64_t c = 0; c < n; ++c) {
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(std::memcmp(&out[size_t(c * rows + r)], &one[size_t(c * rows + r)], sizeof(float)), 0)
              << k_->isa << " " << dtype_name(t) << " n=" << n << " threads=" << threads << " r=" << r << " c=" << c
              << " batched " << out[size_t(c * rows + r)] << " alone " << one[size_t(c * rows + r)];
        }
      }
    }
  }
}

// tile_gemm over rows [2, rows) of one random problem against the reference.
void tile_gemm_case(const TypeKernels& tk, DType t, int64_t k, int64_t rows, int64_t n, std::mt19937& rng) {
  const Problem p = make_problem(t, k, rows, n, rng);
  std::vector<uint8_t> xt(tk.tile_x_bytes(k, n) + 64);
  void* xa = xt.data() + (64 - reinterpret_cast<uintptr_t>(xt.data()) % 64) % 64;
  for (int64_t c = 0; c < n; ++c) tk.tile_x_from_float(p.x.data() + c * k, k, xa, c);
  std::vector<uint8_t> panel(kTileScratchBytes + 64);
  void* s = panel.data() + (64 - reinterpret_cast<uintptr_t>(panel.data()) % 64) % 64;
  std::vector<float> out(size_t(n * rows), -7.0f);
  tk.tile_gemm(k, 2, rows, n, p.w.data(), dtype_row_bytes(t, k), xa, out.data(), rows, s);
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t r = 0; r < rows; ++r) {
      const float got = out[size_t(c * rows + r)];
      if (r < 2) {
        ASSERT_EQ(got, -7.0f) << "wrote before r0";
        continue;
      }
      const float want = p.want[size_t(c * rows + r)];
      ASSERT_LE(std::fabs(double(got) - want), 1e-5 * p.mag[size_t(c * rows + r)]) << "r=" << r << " c=" << c;
    }
  }
}

// The tiled kernel directly: rows not a multiple of the panel or of a lanes row block, a
// first row off the panel grid, K longer than one panel chunk (partial sums added into
// out), column counts on both sides of every kernel's group sizes and of packing.
TEST_P(MatmulVsGeneric, TileGemmLongRows) {
  const DType t = GetParam().type;
  const TypeKernels& tk = k_->of(t);
  if (!tk.tile_gemm) GTEST_SKIP() << k_->isa << " has no tiled kernel for " << dtype_name(t);
  std::mt19937 rng(99);
  // More than one panel chunk (kTileScratchBytes per 16 rows) of K.
  const int64_t k = dtype_info(t).block_size == 256 ? 256 * 38 : 32 * 301;
  const int64_t rows = 21;
  for (int64_t n : {1, 2, 3, 4, 5, 8, 9, 13, 16, 17, 24, 31, 32, 33, 47, 48}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    tile_gemm_case(tk, t, k, rows, n, rng);
  }
}


// The streaming gemm directly, whatever the table's tile threshold: every column count
// from 1 to 17 (one or more passes of a few-column kernel, each pass width and its tail),
// rows [3, 22) of 23 (a first row off any alignment, an odd count), K of 263 blocks of 32
// (past one prepared chunk of activations, ending in a partial group of blocks).
TEST_P(MatmulVsGeneric, GemmEveryColumnCount) {
  const DType t = GetParam().type;
  const TypeKernels& tk = k_->of(t);
  if (!tk.gemm) GTEST_SKIP() << dtype_name(t) << " is not a weight type";
  const int64_t bs = dtype_info(t).block_size;
  const int64_t k = bs == 1 ? 96 + 17 : bs == 32 ? 32 * 263 : 256 * 5;
  const int64_t rows = 23, r0 = 3, r1 = 22;
  std::mt19937 rng(2024 + uint32_t(t));
  const size_t xs = x_stride_of(tk, k);
  // Over 263 blocks a kernel's own order of adding the per-block products drifts from the
  // reference's like a random walk: the bound grows with the square root of the blocks.
  const double bound = 1e-5 * std::max(1.0, std::sqrt(double(k) / 1024.0));
  for (int64_t n = 1; n <= 17; ++n) {
    const Problem p = make_problem(t, k, rows, n, rng);
    std::vector<uint8_t> xq(size_t(n) * xs);
    for (int64_t c = 0; c < n; ++c) convert_row(*k_, tk, p.x.data() + c * k, k, xq.data() + size_t(c) * xs);
    const void* xp = tk.vec_dot_type == DType::kF32 ? static_cast<const void*>(p.x.data()) : xq.data();
    std::vector<float> out(size_t(n * rows), -7.0f);
    tk.gemm(k, r0, r1, n, p.w.data(), dtype_row_bytes(t, k), xp, xs, out.data(), rows);
    for (int64_t c = 0; c < n; ++c) {
      for (int64_t r = 0; r < rows; ++r) {
        const float got = out[size_t(c * rows + r)];
        if (r < r0 || r >= r1) {
          ASSERT_EQ(got, -7.0f) << "wrote outside [r0, r1): n=" << n << " r=" << r << " c=" << c;
          continue;
        }
        const float want = p.want[size_t(c * rows + r)];
        ASSERT_LE(std::fabs(double(got) - want), bound * p.mag[size_t(c * rows + r)] + 1e-30)
            << k_->isa << " " << dtype_name(t) << " n=" << n << " r=" << r << " c=" << c << " got " << got
            << " want " << want;
      }
    }
  }
}

// Sets element e of a block of type t (d = 1, every scale 1, every min 0) to level 1 when
// `hit`, else 0: a row of such blocks picks one activation element.
void put_unit(DType t, uint8_t* blk, int e, bool hit) {
  const uint16_t one = fp32_to_fp16(1.0f);
  if (t == DType::kQ4_0) {
    std::memcpy(blk, &one, 2);
    for (int j = 0; j < 16; ++j) blk[2 + j] = 0x88;  // level 8 - 8 = 0
    if (hit) blk[2 + e % 16] = e < 16 ? 0x89 : 0x98;
  } else if (t == DType::kQ5_0) {
    std::memcpy(blk, &one, 2);
    std::memset(blk + 2, 0xff, 4);  // fifth bits set, nibbles 0: level 16 - 16 = 0
    std::memset(blk + 6, 0, 16);
    if (hit) blk[6 + e % 16] = e < 16 ? 0x01 : 0x10;
  } else if (t == DType::kQ8_0) {
    std::memcpy(blk, &one, 2);
    std::memset(blk + 2, 0, 32);
    if (hit) blk[2 + e] = 1;
  } else if (t == DType::kQ4_K) {
    BlockQ4_K b{};
    b.d = one;
    for (int j = 0; j < 4; ++j) b.scales[j] = 1;      // sub-blocks 0..3: scale 1, min 0
    for (int j = 8; j < 12; ++j) b.scales[j] = 0x01;  // sub-blocks 4..7: scale 1, min 0
    if (hit) b.qs[32 * (e / 64) + e % 32] = uint8_t(e % 64 < 32 ? 0x01 : 0x10);
    std::memcpy(blk, &b, sizeof b);
  } else {
    ASSERT_EQ(t, DType::kQ6_K) << "extend put_unit for " << dtype_name(t);
    BlockQ6_K b{};
    b.d = one;
    for (auto& sc : b.scales) sc = 1;
    for (auto& h : b.qh) h = 0xaa;  // high bits 2 everywhere: level 32 - 32 = 0
    if (hit) {
      const int h = e / 128, k = e % 128 / 32, l = e % 32;
      b.ql[64 * h + 32 * (k % 2) + l] = uint8_t(k < 2 ? 0x01 : 0x10);
    }
    std::memcpy(blk, &b, sizeof b);
  }
}

// The tiled path quantizes activations exactly as the gemm path does (generic Q8_0 or
// Q8_K): weight row r is exactly 1.0 at element r and 0 elsewhere, so the tile product
// reads back the dequantized activation there, d * q rounded once, as generic has it.
TEST_P(MatmulVsGeneric, TileActivationsAreVecDotType) {
  const DType t = GetParam().type;
  const TypeKernels& tk = k_->of(t);
  if (!tk.tile_x_from_float) GTEST_SKIP() << "no tiled kernel";
  const int64_t bs = dtype_info(t).block_size;
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 3.0f);
  const int64_t k = bs == 256 ? 512 : 32 * 9, n = 11, rows = k;
  std::vector<float> x(static_cast<size_t>(k * n));
  for (auto& v : x) v = g(rng);
  x[5] = 0;
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // an all-zero block
  std::vector<uint8_t> xt(tk.tile_x_bytes(k, n) + 64);
  void* xa = xt.data() + (64 - reinterpret_cast<uintptr_t>(xt.data()) % 64) % 64;
  for (int64_t c = 0; c < n; ++c) tk.tile_x_from_float(x.data() + c * k, k, xa, c);
  const size_t rb = dtype_row_bytes(t, k);
  std::vector<uint8_t> w(rb * rows, 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < k / bs; ++b) {
      put_unit(t, w.data() + r * rb + b * dtype_info(t).block_bytes, int(r % bs), b == r / bs);
    }
  }
  std::vector<uint8_t> panel(kTileScratchBytes + 64);
  void* s = panel.data() + (64 - reinterpret_cast<uintptr_t>(panel.data()) % 64) % 64;
  std::vector<float> out(static_cast<size_t>(rows * n));
  tk.tile_gemm(k, 0, rows, n, w.data(), rb, xa, out.data(), rows, s);
  std::vector<uint8_t> q8(dtype_row_bytes(tk.vec_dot_type, k));
  for (int64_t c = 0; c < n; ++c) {
    G().of(tk.vec_dot_type).from_float(x.data() + c * k, q8.data(), k);
    const auto xf = test::rows_as_float(G(), tk.vec_dot_type, q8.data(), k);
    for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(out[size_t(c * rows + r)], xf[size_t(r)]) << "col " << c << " element " << r;
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  for (const char* isa : test::isa_tables()) {
    for (DType t : kWeightTypes) v.push_back({isa, t});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Isa, MatmulVsGeneric, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace airt::hal
