// Weights repacked once, at start-up, for the CPU's matrix products: Q4_0 rows in panels
// of 16, "rows in lanes", the layout the AVX-512 VNNI kernels multiply without a packing
// step. The bytes are as many as the rows' own, so a repacked copy replaces the mapped
// rows rather than doubling them.
//
// Panel p holds rows 16p .. 16p+15; within it, block b of every row (32 elements) is 288
// bytes at (p * nb + b) * 288, nb = cols / 32:
//   [0, 256)   4 vectors of 64 bytes; in vector j, bytes 4r .. 4r+3 are qs[4j .. 4j+3] of
//              row 16p + r (low nibbles: elements 4j..4j+3, high: 16+4j..16+4j+3);
//   [256, 288) the 16 rows' f16 scales d, row 16p + r at 256 + 2r.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hal/dtype.h"

namespace airt::hal {

constexpr int64_t kPackRows = 16;
constexpr size_t kPackedQ4_0BlockBytes = 288;  // 16 rows x 18 bytes

// Whether a matrix of `type`, rows x cols, has a packed layout: Q4_0 with rows a multiple
// of kPackRows.
bool packable(DType type, int64_t rows, int64_t cols);

// dst (rows x row bytes) = the packed layout of `rows` rows of src (row_bytes apart).
// Exact: unpack_rows gives the rows back byte for byte. Requires packable().
void pack_rows(DType type, const void* src, size_t row_bytes, int64_t rows, int64_t cols, void* dst);
void unpack_rows(DType type, const void* packed, int64_t rows, int64_t cols, void* dst, size_t row_bytes);

}  // namespace airt::hal
