// The gemm driver loops every kernel table shares: templates over a table's own dot
// kernels, so the loop is written once and each ISA gets its own instantiations.
//
// Include this INSIDE the anonymous namespace of an ISA translation unit (after <cstddef>
// and <cstdint>): every instantiation then has internal linkage and is compiled with that
// TU's flags, so no ISA-compiled copy can be picked by the linker for another table (see
// isa.h). It includes nothing itself for the same reason.
//
// The loops only choose which dot computes which output; each output is one dot call of
// its own, so a table's gemm and vec_dot agree to the bit whatever the row range.
#pragma once

// A dot product of one weight row and one activation row (TypeKernels::vec_dot).
using GemmDotFn = void (*)(int64_t n, float* out, const void* w, const void* x);

// TypeKernels::gemm from a dot kernel: weight row outer, so a row is read once from
// memory and reused for every column.
template <GemmDotFn Dot>
void gemm_rows(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride,
               const void* x, size_t x_stride, float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t c = 0; c < ncols; ++c)
      Dot(k, out + c * ldo + r, wb + r * w_stride, xb + c * x_stride);
  }
}

// TypeKernels::gemm from a kernel that takes one weight row against up to MaxCols
// activation rows at once, Cols(k, w_row, x_rows, nc, res), decoding each weight block
// once per group of columns.
template <class WBlock, class XBlock, int MaxCols,
          void (*Cols)(int64_t k, const WBlock* w, const XBlock* const* x, int nc, float* out)>
void gemm_cols(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride,
               const void* x, size_t x_stride, float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t r = r0; r < r1; ++r) {
    const auto* wr = reinterpret_cast<const WBlock*>(wb + r * w_stride);
    for (int64_t c0 = 0; c0 < ncols; c0 += MaxCols) {
      const int nc = static_cast<int>(ncols - c0 < MaxCols ? ncols - c0 : MaxCols);
      const XBlock* cols[MaxCols];
      for (int c = 0; c < nc; ++c)
        cols[c] = reinterpret_cast<const XBlock*>(xb + (c0 + c) * x_stride);
      float res[MaxCols];
      Cols(k, wr, cols, nc, res);
      for (int c = 0; c < nc; ++c) out[(c0 + c) * ldo + r] = res[c];
    }
  }
}
