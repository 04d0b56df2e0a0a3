// Pieces of the AVX-512 VNNI tiled products shared by tile.cpp (Q4_0, Q8_0) and
// tile_k.cpp (Q4_K, Q6_K): the "rows in lanes" panel. For every 32-element block of W a
// panel block holds 8 vectors whose 32-bit lane r has 4 consecutive weights of row r as
// unsigned bytes, followed by that layout's per-row f32 scale vectors. Internal linkage
// on purpose: only AVX-512 translation units include this (see isa.h).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels.h"

namespace airt::hal::avx512 {
namespace {  // NOLINT(google-build-namespaces): private to each AVX-512 translation unit

constexpr int kRows = int(kTileRows);  // rows per panel = 32-bit lanes of a zmm
constexpr int kCols = 8;               // activation columns per micro-kernel call

// Writes the 8 groups of 4 bytes of one row's block (32 unsigned bytes in element order)
// into lane r of the panel block's 8 vectors.
inline void put_row(uint8_t* blk, int r, __m256i v) {
  alignas(32) uint32_t t[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t), v);
  for (int j = 0; j < 8; ++j) std::memcpy(blk + 64 * j + 4 * r, &t[j], 4);
}

// Rows past the end of W take zero weights and scales (`vectors` per block of
// `block_bytes`), so their lanes compute zeros that the masked store drops.
inline void clear_rows(int rows, int64_t nb, uint8_t* panel, size_t block_bytes, int vectors) {
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* blk = panel + size_t(b) * block_bytes;
    for (int r = rows; r < kRows; ++r) {
      for (int j = 0; j < vectors; ++j) std::memset(blk + 64 * j + 4 * r, 0, 4);
    }
  }
}

inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

inline float f16(uint16_t h) { return _cvtsh_ss(h); }

}  // namespace
}  // namespace airt::hal::avx512
