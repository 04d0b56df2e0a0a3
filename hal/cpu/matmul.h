// Matrix products as the forward pass uses them: out (n x rows) = X (n x k) · Wᵀ, with
// the activations converted once to what the weight type's kernels consume and the rows
// of W split across the pool's threads, so every weight byte is read once per call
// whatever the thread count.
//
// A packed W (hal/cpu/packed.h) takes the table's packed_gemm for every row count.
// Otherwise two paths: few activation rows (generation) stream W through the table's gemm; more
// rows (batched decode, prompts) use the tiled kernel where the table has one, from the
// type's tile_min_cols on. A tiled kernel reads each weight once for all rows by packing
// panels of W into per-thread scratch and reusing each for every row. On AVX-512, Q4_0
// and Q8_0 take the panels from 6 and 3 rows (with AMX from 8 and 3). Within a path a
// row's result does not depend on the rows beside it; the two paths sum in different
// orders, so a row alone and the same row in a batch can differ in the last bits (the
// generic table alone sums every way alike).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hal/cpu/kernels.h"
#include "hal/cpu/thread_pool.h"

namespace airt::hal {

struct MatrixView {
  const void* data = nullptr;
  DType type = DType::kF32;
  int64_t cols = 0;      // k, the reduction dimension
  int64_t rows = 0;      // output features
  size_t row_bytes = 0;  // stride between rows
  bool packed = false;   // in the panels of hal/cpu/packed.h (row_bytes still a row's size)
};

// Activation rows from which matmul() takes the tiled path whatever the table
// (TypeKernels::tile_min_cols may start it earlier).
constexpr int64_t kTileMinCols = 8;

// Bytes of scratch matmul() needs for any count of activation rows up to n against `w`
// (64-byte aligned pieces; includes the panel thread 0 packs into when there is no pool).
size_t matmul_scratch_bytes(const Kernels& k, const MatrixView& w, int64_t n);

// out[i * ldo + r] = dot(W row r, x row i) for i < n, r < rows. x rows are w.cols
// floats apart. `scratch` holds matmul_scratch_bytes() and is 64-byte aligned. pool may
// be null (one thread); a pool running more than one thread (active()) must have its
// scratch attached. No allocation.
void matmul(ThreadPool* pool, const Kernels& k, const MatrixView& w, const float* x, int64_t n, float* out,
            int64_t ldo, void* scratch);

}  // namespace airt::hal
