#include "hal/cpu/matmul.h"

#include <algorithm>

namespace airt::hal {
namespace {

static_assert(kThreadScratchBytes >= kTileScratchBytes, "pool scratch must hold a tile panel");

constexpr size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

bool use_tiles(const TypeKernels& tk, const MatrixView& w, int64_t n) {
  return !w.packed && tk.tile_gemm != nullptr && n >= std::min(tk.tile_min_cols, kTileMinCols);
}

// Bytes of one converted activation row on the streaming path.
size_t x_row_bytes(const TypeKernels& tk, int64_t cols) {
  if (tk.vec_dot_type == DType::kF32) return 0;  // x is used as it is
  return dtype_row_bytes(tk.vec_dot_type, cols);
}

// Bytes of all n converted activation rows.
size_t x_bytes(const TypeKernels& tk, int64_t cols, int64_t n, bool tiles) {
  return align64(tiles ? tk.tile_x_bytes(cols, n) : size_t(n) * x_row_bytes(tk, cols));
}

// Converting rows in parallel pays once there are a few of them.
constexpr int64_t kParallelConvertRows = 8;

struct Job {
  const Kernels* k;
  const TypeKernels* tk;
  const MatrixView* w;
  const float* x;
  int64_t n;
  float* out;
  int64_t ldo;
  uint8_t* xq;        // converted activations (null: x is used as it is)
  size_t xs;          // bytes per converted row on the streaming path
  bool tiles;
  ThreadPool* pool;
  uint8_t* scratch0;  // thread 0's panel when there is no pool

  void convert(int ith, int nth) const {
    int64_t i0, i1;
    split_range(n, ith, nth, 1, i0, i1);
    const int64_t cols = w->cols;
    if (tiles) {
      for (int64_t i = i0; i < i1; ++i) tk->tile_x_from_float(x + i * cols, cols, xq, i);
    } else {
      const TypeKernels& ak = k->of(tk->vec_dot_type);
      for (int64_t i = i0; i < i1; ++i) ak.from_float(x + i * cols, xq + size_t(i) * xs, cols);
    }
  }

  void multiply(int ith, int nth) const {
    int64_t r0, r1;
    // 16 rows keep each thread's outputs on cache lines of their own.
    split_range(w->rows, ith, nth, kTileRows, r0, r1);
    if (r0 >= r1) return;
    const void* xp = xq ? static_cast<const void*>(xq) : static_cast<const void*>(x);
    const size_t stride = xq ? xs : size_t(w->cols) * sizeof(float);
    if (tiles || w->packed) {
      void* panel = pool && nth > 1 ? pool->scratch(ith) : scratch0;
      if (w->packed)
        tk->packed_gemm(w->cols, r0, r1, n, w->data, xp, stride, out, ldo, panel);
      else
        tk->tile_gemm(w->cols, r0, r1, n, w->data, w->row_bytes, xp, out, ldo, panel);
    } else {
      tk->gemm(w->cols, r0, r1, n, w->data, w->row_bytes, xp, stride, out, ldo);
    }
  }
};

}  // namespace

size_t matmul_scratch_bytes(const Kernels& k, const MatrixView& w, int64_t n) {
  const TypeKernels& tk = k.of(w.type);
  if (w.packed) return x_bytes(tk, w.cols, n, false) + kTileScratchBytes;
  const bool tiles = use_tiles(tk, w, n);
  // Each path's bytes grow with n, so n and the most rows the streaming path takes cover
  // every count up to n.
  const int64_t few = tiles ? std::min(tk.tile_min_cols, kTileMinCols) - 1 : n;
  return std::max(x_bytes(tk, w.cols, n, tiles) + (tiles ? kTileScratchBytes : 0), x_bytes(tk, w.cols, few, false));
}

void matmul(ThreadPool* pool, const Kernels& k, const MatrixView& w, const float* x, int64_t n, float* out,
            int64_t ldo, void* scratch) {
  const TypeKernels& tk = k.of(w.type);
  AIRT_DCHECK(!w.packed || tk.packed_gemm != nullptr);
  const bool tiles = use_tiles(tk, w, n);
  const size_t xs = tiles ? 0 : x_row_bytes(tk, w.cols);
  auto* s = static_cast<uint8_t*>(scratch);
  Job job{&k, &tk, &w, x, n, out, ldo, tiles || xs ? s : nullptr, xs, tiles, pool, s + x_bytes(tk, w.cols, n, tiles)};
  const int nth = pool ? pool->active() : 1;
  AIRT_DCHECK(!tiles || nth == 1 || pool->scratch(0) != nullptr);
  if (job.xq) {
    if (nth > 1 && n >= kParallelConvertRows) {
      auto f = [&job](int ith, int nth) { job.convert(ith, nth); };
      pool->parallel(f);
    } else {
      job.convert(0, 1);
    }
  }
  if (nth > 1) {
    auto f = [&job](int ith, int nth) { job.multiply(ith, nth); };
    pool->parallel(f);
  } else {
    job.multiply(0, 1);
  }
}

}  // namespace airt::hal
