// The "rows in lanes" weight panel of the x86 tiled products (avx512/tile.cpp,
// avx512/tile_k.cpp, avx2/tile.cpp). For every 32-element block of W a panel block holds
// 8 groups of 64 bytes whose 32-bit lane r has 4 consecutive weights of row r (of 16) as
// unsigned bytes — one zmm, or two ymm of 8 rows each — followed by that layout's per-row
// f32 scale vectors. Internal linkage on purpose: each x86 ISA translation unit gets its
// own copy compiled with its own flags (see isa.h). Uses AVX2 and F16C only.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels.h"
#include "hal/quant_blocks.h"

namespace airt::hal {
namespace {  // NOLINT(google-build-namespaces): private to each x86 ISA translation unit

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

#if defined(__AVX512F__)
inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
#endif

inline float f16(uint16_t h) { return _cvtsh_ss(h); }

// Activation layout: columns in groups of kCols; for each group and each 32-block, one
// record of all its columns, so the micro-kernel reaches everything from one pointer
// with constant offsets: int8 q[kCols][32], float d[kCols], int32 c[kCols], where
// c = -offset * sum(q) undoes the weight offset.
struct alignas(64) XRecord {
  int8_t q[kCols][32];
  float d[kCols];
  int32_t c[kCols];
};
static_assert(sizeof(XRecord) == 320);

inline size_t x_bytes(int64_t k, int64_t ncols) { return size_t((ncols + kCols - 1) / kCols) * size_t(k / 32) * sizeof(XRecord); }

// Bytes of one 32-element panel block of the legacy types: 8 × 64 weight bytes, then the
// 16 row scales.
constexpr size_t kLegacyBlockBytes = 8 * 64 + 64;

// Rows [0, rows) of W (stride bytes apart), blocks [b0, b0 + nb), into the panel: Q4_0 as
// its raw nibbles (q + 8), Q5_0 as its 5 bits (q + 16), Q8_0 as q + 128, each with d.
inline void pack_q4_0(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* panel) {
  const __m128i m = _mm_set1_epi8(0x0f);
  for (int r = 0; r < rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ4_0*>(w + size_t(r) * stride) + b0;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = panel + size_t(b) * kLegacyBlockBytes;
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row[b].qs));
      put_row(blk, r, _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m)));
      reinterpret_cast<float*>(blk + 512)[r] = f16(row[b].d);
    }
  }
}

inline void pack_q5_0(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* panel) {
  const __m128i m = _mm_set1_epi8(0x0f);
  const __m256i spread = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                                            0x0303030303030303);
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
  for (int r = 0; r < rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ5_0*>(w + size_t(r) * stride) + b0;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = panel + size_t(b) * kLegacyBlockBytes;
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row[b].qs));
      uint32_t qh;
      std::memcpy(&qh, row[b].qh, 4);
      // Bit j of qh to 0x10 in byte j: the level q + 16 as an unsigned byte.
      const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(int(qh)), spread), bit), bit);
      const __m256i n = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
      put_row(blk, r, _mm256_or_si256(n, _mm256_and_si256(set, _mm256_set1_epi8(0x10))));
      reinterpret_cast<float*>(blk + 512)[r] = f16(row[b].d);
    }
  }
}

inline void pack_q8_0(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* panel) {
  const __m256i flip = _mm256_set1_epi8(char(0x80));
  for (int r = 0; r < rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ8_0*>(w + size_t(r) * stride) + b0;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = panel + size_t(b) * kLegacyBlockBytes;
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[b].qs));
      put_row(blk, r, _mm256_xor_si256(v, flip));  // q + 128 as an unsigned byte
      reinterpret_cast<float*>(blk + 512)[r] = f16(row[b].d);
    }
  }
}


}  // namespace
}  // namespace airt::hal
