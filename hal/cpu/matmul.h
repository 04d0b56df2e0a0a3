// Matrix products as the forward pass uses them: out (n x rows) = X (n x k) · Wᵀ, with
// the activations converted once to the weight type's vec_dot_type and the rows of W
// split across the pool's threads.
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
};

// Bytes of scratch matmul() needs for n activation rows against `w`.
size_t matmul_scratch_bytes(const Kernels& k, const MatrixView& w, int64_t n);

// out[i * ldo + r] = dot(W row r, x row i) for i < n, r < rows. x rows are w.cols
// floats apart. `scratch` holds matmul_scratch_bytes(). pool may be null (one thread).
void matmul(ThreadPool* pool, const Kernels& k, const MatrixView& w, const float* x, int64_t n, float* out,
            int64_t ldo, void* scratch);

}  // namespace airt::hal
