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

// Writes (or adds to) the first `rows` of one column's 16 results, rows 0..7 in lo and
// 8..15 in hi (the AVX2 micro-kernels; the AVX-512 ones store one masked zmm).
inline void store_rows(__m256 lo, __m256 hi, float* o, int rows, bool add) {
  alignas(32) float v[16];
  _mm256_store_ps(v, lo);
  _mm256_store_ps(v + 8, hi);
  for (int r = 0; r < rows; ++r) o[r] = add ? o[r] + v[r] : v[r];
}
#if defined(__AVX512F__)
inline void store_rows(__m512 v, float* o, __mmask16 mask, bool add) {
  if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, o));
  _mm512_mask_storeu_ps(o, mask, v);
}
#endif

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

using PanelPackFn = void (*)(const uint8_t* w, size_t stride, int rows, int64_t first, int64_t count, uint8_t* panel);

// Drives a tiled product over rows [r0, r1) of W: for each panel of kRows rows and each
// chunk of K that fits kTileScratchBytes, packs the panel (`pack` counts in units of
// `unit` 32-element blocks: 1, or 8 for a K-quant super-block) and hands it to
// run(panel, r, rows, b0, nb), which multiplies it with every activation column. A chunk
// holds at most max_blocks blocks (0: as many as fit), so a kernel can fix where its sums
// restart.
template <class Run>
inline void drive_panels(int64_t k, int64_t r0, int64_t r1, const void* w, size_t w_stride, void* scratch,
                         size_t block_bytes, int vectors, int64_t unit, PanelPackFn pack, Run&& run,
                         int64_t max_blocks = 0) {
  const int64_t nb_all = k / 32;
  int64_t max_chunk = int64_t(kTileScratchBytes / block_bytes) / unit * unit;
  if (max_blocks > 0 && max_blocks < max_chunk) max_chunk = max_blocks;
  const int64_t chunk = nb_all < max_chunk ? nb_all : max_chunk;
  auto* panel = static_cast<uint8_t*>(scratch);
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r = r0; r < r1; r += kRows) {
    const int rows = int(r1 - r < kRows ? r1 - r : kRows);
    for (int64_t b0 = 0; b0 < nb_all; b0 += chunk) {
      const int64_t nb = nb_all - b0 < chunk ? nb_all - b0 : chunk;
      pack(wb + size_t(r) * w_stride, w_stride, rows, b0 / unit, nb / unit, panel);
      if (rows < kRows) clear_rows(rows, nb, panel, block_bytes, vectors);
      run(static_cast<const uint8_t*>(panel), r, rows, b0, nb);
    }
  }
}

// The three entries of one type's tiled path.
inline void set_tiles(TypeKernels& t, decltype(TypeKernels::tile_x_bytes) x_bytes,
                      decltype(TypeKernels::tile_x_from_float) x_from_float, decltype(TypeKernels::tile_gemm) gemm) {
  t.tile_x_bytes = x_bytes;
  t.tile_x_from_float = x_from_float;
  t.tile_gemm = gemm;
}

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
      const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(int(qh)), spread);
      const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
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
