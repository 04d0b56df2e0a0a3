// AMX (Advanced Matrix Extensions) int8 tiled products for Q8_0 and Q4_0 weights: a few
// activation columns (batched decode, verify steps) up to prompts.
//
// The weights are the A operand of TDPBSSD: 16 rows x one 32-element block (32 bytes a
// row). A Q8_0 block's 32 quants are exactly such a row, so a full panel's A tile loads
// straight from the mapped file with the row stride; nothing is repacked or copied (a
// panel at the end of a row range, with fewer than 16 rows, is staged so no row past the
// range is read). Q4_0 nibbles are unpacked, 64 blocks of 16 rows at a time, into the
// thread's scratch as signed levels q - 8. The activations are the B operand, quantized
// by tile_x_from_float straight into the VNNI layout B[k/4][col*4 + k%4], 16 columns a
// tile, exactly as the generic Q8_0 quantizer does.
//
// Scales are per 32-block, per weight row and per activation column, so a C tile can
// only sum one block per (row, column) before it is stored and added into float
// accumulators with AVX-512: acc[r] += (float(C[r]) * dx) * dw[r]. With 9 or more
// columns every block has its own C tile (16 x 16). With at most 8, 16 / ncp blocks
// share one tile, each in its own columns (the narrow path below), so the store and the
// float work are paid once per group of blocks. Four C tiles rotate so the next
// products run while one is scaled.
//
// Measured on one thread of a loaded 2-core Xeon (5632 x 2048, CPU time): Q8_0 costs
// about the same for 2 to 16 columns, 1.3x a 1-column gemv, ahead of the AVX-512 path
// from 3 columns. Q4_0 costs about 1.7-2x a 1-column gemv from 5 to 16 columns, nearly
// most of it the unpacking and the scaling, while the AVX-512 gemv (up to 8 columns a
// pass) grows by about 0.1x a column: it stays up to 7 columns. Hence tile_min_cols 3
// and 8.
//
// The narrow Q4_0 path stages its blocks in pairs and multiplies with K = 64 (two blocks a
// product), halving the tile loads and products there.
//
// AMX state needs the OS's permission (features.cpp asks for it once, before the table
// is offered) and a tile configuration, loaded at the start of every product and
// released at its end (TileScope).
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::amx {
namespace {

constexpr int kRows = int(kTileRows);  // weight rows of an A / C tile
constexpr int kCols = 16;              // activation columns of a B / C tile
constexpr int64_t kChunk = 64;         // blocks staged at once: a Q4_0 stage stays in L1
constexpr size_t kStageBytes = size_t(kChunk) * 512;

// The activations of one group of 16 columns for one 32-block: the B tile, then scales.
struct alignas(64) XTile {
  int8_t q[8][kCols][4];  // q[k/4][c][k%4]
  float d[kCols];
};
static_assert(sizeof(XTile) == 576);

// The compiler does not know that the tile instructions read or write memory (GCC's
// intrinsics are asm statements without a memory clobber): fence stores and loads
// around them.
inline void compiler_fence() { asm volatile("" ::: "memory"); }

// Palette 1: tmm0-3 the C tiles (16 rows x 16 int32), tmm4/5 the A tiles (16 rows x
// 32 bytes), tmm6/7 the B tiles (8 rows of 4 bytes x 16 columns), for every product.
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64);

// Configures the tiles for one product and releases them after it. Released, a thread's
// tile state is back in its init state, so the kernel's XSAVE skips its 8 KiB at every
// context switch (the pool's threads sleep between jobs) and nothing depends on what
// another user of AMX in this thread left configured. Loading the configuration costs
// far less than one panel.
// k_bytes is the K of one product: 32 (one block) or 64 (a pair of blocks).
class TileScope {
 public:
  explicit TileScope(int k_bytes) {
    TileConfig cfg{};
    cfg.palette = 1;
    for (int t = 0; t < 4; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;                       // C
    for (int t = 4; t < 6; ++t) cfg.colsb[t] = uint16_t(k_bytes), cfg.rows[t] = 16;        // A
    for (int t = 6; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = uint8_t(k_bytes / 4);     // B
    compiler_fence();
    _tile_loadconfig(&cfg);
  }
  ~TileScope() { _tile_release(); }
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;
};

size_t x_tile_bytes(int64_t k, int64_t ncols) {
  return size_t((ncols + kCols - 1) / kCols) * size_t(k / 32) * sizeof(XTile);
}

// Same result as the generic Q8_0 quantizer, to the bit: amax/127 rounded to f16 is the
// scale, values are x * (127/amax) rounded to nearest even.
void x_from_float(const float* src, int64_t k, void* x, int64_t col) {
  const int64_t nb = k / 32;
  auto* rec = static_cast<XTile*>(x) + (col / kCols) * nb;
  const int c = int(col % kCols);
  alignas(32) int8_t q[32];
  for (int64_t i = 0; i < nb; ++i, src += 32) {
    const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const uint16_t dh = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    rec[i].d[c] = _cvtsh_ss(dh);
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, id))));
    _mm_store_si128(reinterpret_cast<__m128i*>(q + 16),
                    _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, id))));
    for (int j = 0; j < 8; ++j) std::memcpy(rec[i].q[j][c], q + 4 * j, 4);
  }
}

// Weight scales of a staged chunk, one row of floats per weight row ("transposed"), so a
// row's scales of consecutive blocks are adjacent: dw[r * kDwStride + b]. Past the chunk
// and past the panel's rows they are 0.
constexpr int64_t kDwStride = kChunk + 16;

// Where a panel's A tiles are: block b of row r at base + b * step + r * stride.
// While one panel is multiplied, the weights of the next one (next: its first row's
// first block of the chunk, null if none) are fetched into L2, a block of each of its
// 16 rows at a time: 16 rows are more streams than the hardware prefetcher follows.
struct APanel {
  const uint8_t* base;
  size_t stride;
  size_t step;
  const float* dw;
  const uint8_t* next = nullptr;
  size_t next_stride = 0;
  size_t next_step = 0;
};

// Block b of the next panel's rows (every other block where two fit a cache line).
inline void prefetch_next(const APanel& a, int64_t b) {
  if (a.next == nullptr || (a.next_step < 32 && (b & 1))) return;
  const char* p = reinterpret_cast<const char*>(a.next + size_t(b) * a.next_step);
  for (int r = 0; r < kRows; ++r) _mm_prefetch(p + r * a.next_stride, _MM_HINT_T1);
}

// Scales of blocks [b0, b0 + nb) of `rows` rows into dw: one gather per row and 16 blocks
// (each block starts with its f16 scale).
void stage_scales(const uint8_t* w, size_t stride, int rows, size_t block_bytes, int64_t b0, int64_t nb,
                  float* dw) {
  const __m512i at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                        _mm512_set1_epi32(int(block_bytes)));
  for (int r = 0; r < kRows; ++r) {
    const uint8_t* base = w + size_t(r) * stride + size_t(b0) * block_bytes;
    for (int64_t b = 0; b < kDwStride; b += 16, base += 16 * block_bytes) {
      const int64_t left = r < rows ? nb - b : 0;
      __m512 v = _mm512_setzero_ps();
      if (left > 0) {
        const __mmask16 mask = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
        v = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, at, base, 1)));
      }
      _mm512_store_ps(dw + r * kDwStride + b, v);
    }
  }
}

// Q8_0: a full panel is read in place; a partial one is copied, its missing rows zero.
APanel stage_q8_0(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* stage, float* dw) {
  stage_scales(w, stride, rows, sizeof(BlockQ8_0), b0, nb, dw);
  const uint8_t* first = w + size_t(b0) * sizeof(BlockQ8_0) + offsetof(BlockQ8_0, qs);
  if (rows == kRows) return {first, stride, sizeof(BlockQ8_0), dw};
  std::memset(stage, 0, size_t(nb) * 512);
  for (int r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) std::memcpy(stage + 512 * b + 32 * r, first + r * stride + b * sizeof(BlockQ8_0), 32);
  }
  return {stage, 32, 512, dw};
}

// Q4_0 levels q - 8 of 4 rows (p, p + stride, ...) of one block into 4 rows of 32 bytes.
inline void unpack_q4_0_x4(const uint8_t* p, size_t stride, uint8_t* dst) {
  const __m512i m4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);
  __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + stride)), 1);
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * stride)), 2);
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 3 * stride)), 3);
  const __m512i lo = _mm512_sub_epi8(_mm512_and_si512(v, m4), eight);
  const __m512i hi = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), eight);
  // Row j = elements 0..15 (low nibbles, lane j of lo), then 16..31 (lane j of hi).
  const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  _mm512_store_si512(dst, _mm512_permutex2var_epi64(lo, first, hi));
  _mm512_store_si512(dst + 64, _mm512_permutex2var_epi64(lo, second, hi));
}

// Q4_0 for K = 32 products: every panel is unpacked, block b as 16 rows of 32 bytes at
// 512 * b; rows past a partial panel are zero.
APanel stage_q4_0(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* stage, float* dw) {
  stage_scales(w, stride, rows, sizeof(BlockQ4_0), b0, nb, dw);
  const uint8_t* first = w + size_t(b0) * sizeof(BlockQ4_0) + offsetof(BlockQ4_0, qs);
  if (rows < kRows) std::memset(stage, 0, size_t(nb) * 512);
  const int full = rows / 4 * 4;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = first + b * sizeof(BlockQ4_0);
    for (int r = 0; r < full; r += 4) unpack_q4_0_x4(p + r * stride, stride, stage + 512 * b + 32 * r);
    for (int r = full; r < rows; ++r) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + r * stride));
      const __m128i m4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
      auto* d = reinterpret_cast<__m128i*>(stage + 512 * b + 32 * r);
      _mm_store_si128(d, _mm_sub_epi8(_mm_and_si128(v, m4), eight));
      _mm_store_si128(d + 1, _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), eight));
    }
  }
  return {stage, 32, 512, dw};
}

// Q4_0 for K = 64 products, blocks in pairs: row r of blocks b, b + 1 (b even) is one
// 64-byte A row at 1024 * (b / 2) + 64 * r, so block b starts at 512 * b with rows 64
// bytes apart. A row's pair comes from two 16-byte loads broadcast over the lanes (lane
// 0, 1: block b, lane 2, 3: block b + 1), the high nibbles shifted down in lanes 1 and
// 3: three vector operations for two blocks. The second half of an odd last pair is zero
// (its activations are zero too); rows past a partial panel are zero.
APanel stage_q4_0_pairs(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* stage,
                        float* dw) {
  stage_scales(w, stride, rows, sizeof(BlockQ4_0), b0, nb, dw);
  const uint8_t* first = w + size_t(b0) * sizeof(BlockQ4_0) + offsetof(BlockQ4_0, qs);
  if (rows < kRows) std::memset(stage, 0, size_t((nb + 1) / 2) * 1024);
  const __m512i m4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);
  constexpr __mmask16 kSecond = 0xff00;      // dwords of lanes 2 and 3
  constexpr __mmask32 kHigh = 0xff00ff00u;   // words of lanes 1 and 3
  const int64_t pairs = nb / 2;
  for (int r = 0; r < rows; ++r) {
    const uint8_t* p = first + size_t(r) * stride;
    uint8_t* d = stage + 64 * r;
    for (int64_t i = 0; i < pairs; ++i, p += 2 * sizeof(BlockQ4_0), d += 1024) {
      __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      v = _mm512_mask_broadcast_i32x4(v, kSecond,
                                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + sizeof(BlockQ4_0))));
      v = _mm512_mask_srli_epi16(v, kHigh, v, 4);
      _mm512_store_si512(d, _mm512_sub_epi8(_mm512_and_si512(v, m4), eight));
    }
    if (nb % 2) {
      __m512i v = _mm512_maskz_broadcast_i32x4(0x00ff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      v = _mm512_mask_srli_epi16(v, kHigh, v, 4);
      _mm512_store_si512(d, _mm512_maskz_sub_epi8(0x00000000ffffffffull, _mm512_and_si512(v, m4), eight));
    }
  }
  return {stage, 64, 512, dw};
}

// acc[r] (lane c) += dw[r] * dx[c] * C[r][c] for one block's stored C tile; dw points at
// the block's scale in row 0 of the transposed scales.
inline void scale_block(const int32_t* c, const float* dx, __mmask16 cols, const float* dw, __m512* acc) {
  // Columns past ncols were never written: their scales are read as 0, so no stray
  // denormal or NaN costs a microcode assist.
  const __m512 x = _mm512_maskz_load_ps(cols, dx);
  // Unrolled so the 16 accumulators stay in registers.
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
    const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r)), x);
    acc[r] = _mm512_fmadd_ps(t, _mm512_set1_ps(dw[r * kDwStride]), acc[r]);
  }
}

// One block's product into C tile `c` (A tile `a`, B tile `b`). The tile numbers are part
// of the instruction text (the intrinsics paste them), hence a macro. The C tile is stored
// later (store_c): a store right after the product would wait out the product's latency.
#define AIRT_AMX_PRODUCT(c, a, b, a_ptr, a_stride, x_ptr) \
  do {                                                   \
    compiler_fence();                                    \
    _tile_zero(c);                                       \
    _tile_loadd(a, a_ptr, a_stride);                     \
    _tile_loadd(b, (x_ptr)->q, 64);                      \
    _tile_dpbssd(c, a, b);                               \
    compiler_fence();                                    \
  } while (0)

// Block i's product into C tile i % 4: up to three more products are in flight while one
// is stored and scaled.
inline void product(const APanel& a, const XTile* x, int64_t i) {
  const uint8_t* w = a.base + i * a.step;
  switch (i & 3) {
    case 0: AIRT_AMX_PRODUCT(0, 4, 6, w, a.stride, x + i); break;
    case 1: AIRT_AMX_PRODUCT(1, 5, 7, w, a.stride, x + i); break;
    case 2: AIRT_AMX_PRODUCT(2, 4, 6, w, a.stride, x + i); break;
    default: AIRT_AMX_PRODUCT(3, 5, 7, w, a.stride, x + i); break;
  }
}
#undef AIRT_AMX_PRODUCT

// C tile i % 4 to buf.
inline void store_c(int64_t i, int32_t* buf) {
  compiler_fence();
  switch (i & 3) {
    case 0: _tile_stored(0, buf, 64); break;
    case 1: _tile_stored(1, buf, 64); break;
    case 2: _tile_stored(2, buf, 64); break;
    default: _tile_stored(3, buf, 64); break;
  }
  compiler_fence();
}

// 16 rows x nc (<= 16) columns over nb blocks: out[c * ldo + r] = (or +=) the sums.
void panel_group(const APanel& a, const XTile* x, int64_t nb, bool prefetch, float* out, int64_t ldo, int rows,
                 int nc, bool add) {
  constexpr int64_t kDepth = 3;  // products issued ahead of the one being scaled
  alignas(64) int32_t c[4][kRows * kCols];
  __m512 acc[kRows];
#pragma GCC unroll 16
  for (auto& v : acc) v = _mm512_setzero_ps();
  const __mmask16 cols = nc == kCols ? __mmask16(0xffff) : __mmask16((1u << nc) - 1u);
  for (int64_t i = 0; i < kDepth && i < nb; ++i) product(a, x, i);
  store_c(0, c[0]);
  for (int64_t b = 0; b < nb; ++b) {
    if (prefetch) prefetch_next(a, b);
    if (b + kDepth < nb) product(a, x, b + kDepth);
    if (b + 1 < nb) store_c(b + 1, c[(b + 1) & 3]);
    scale_block(c[b & 3], x[b].d, cols, a.dw + b, acc);
  }
  // acc[r] holds row r's columns; out wants column c's rows: transpose through memory.
  alignas(64) float t[kRows * kCols];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) _mm512_store_ps(t + 16 * r, acc[r]);
  const __m512i down = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(kCols));
  const __mmask16 mask = rows == kRows ? __mmask16(0xffff) : __mmask16((1u << rows) - 1u);
  for (int col = 0; col < nc; ++col) {
    __m512 v = _mm512_i32gather_ps(down, t + col, 4);
    float* o = out + col * ldo;
    if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, o));
    _mm512_mask_storeu_ps(o, mask, v);
  }
}

// The narrow path, for at most 8 activation columns: a C tile of 16 x 16 would hold 16
// rows x ncols useful sums and cost a tile store and 16 rows of scaling per block. Instead
// G = 16 / ncp blocks share one C tile, block j of a group putting its ncp (ncols rounded
// up to a power of 2) columns at C columns [j * ncp, (j + 1) * ncp): its B tile holds
// the block's activations there and zeros elsewhere, so G products add into one tile and
// one store and one scaling serve G blocks. The lanes of a row's accumulator are then
// (block slot, column) pairs, summed at the end.
constexpr size_t kDwBytes = size_t(kRows * kDwStride) * sizeof(float);
constexpr size_t kNarrowXBytes = size_t(kChunk) * 512;
// The narrow path's scratch: two (stage, scales) pairs around the staged activations.
constexpr size_t kNarrowBytes = kStageBytes + kDwBytes + kNarrowXBytes + size_t(kChunk) * 64;
static_assert(kNarrowBytes + kStageBytes + kDwBytes <= kTileScratchBytes);

// Blocks [b0, b0 + nb) of the first column group of x into the narrow B tiles (512
// bytes a block) and, per group of G blocks, the 16 lane scales (0 where no column).
void stage_narrow(const XTile* x, int64_t b0, int64_t nb, int ncols, int ncp, uint8_t* q, float* dx) {
  const int g_blocks = kCols / ncp;
  // Rounded up to a pair: a K = 64 product of an odd last block reads zeros beyond it.
  std::memset(q, 0, size_t((nb + 1) / 2) * 1024);
  std::memset(dx, 0, size_t((nb + g_blocks - 1) / g_blocks) * 64);
  for (int64_t b = 0; b < nb; ++b) {
    const XTile& t = x[b0 + b];
    const int s = int(b % g_blocks) * ncp;
    uint8_t* dst = q + 512 * b;
    for (int kk = 0; kk < 8; ++kk) std::memcpy(dst + 64 * kk + 4 * s, t.q[kk][0], size_t(4 * ncols));
    std::memcpy(dx + 16 * (b / g_blocks) + s, t.d, sizeof(float) * size_t(ncols));
  }
}

// Blocks [b, b + n) of the panel against their narrow B tiles, added into C tile `ct`
// (stored later, by store_c); the A and B tiles alternate so loads overlap the products.
#define AIRT_AMX_GROUP(ct, a, xq, b, n)                                            \
  do {                                                                                  \
    compiler_fence();                                                                   \
    _tile_zero(ct);                                                                     \
    for (int64_t j = 0; j < (n); j += 2) {                                              \
      prefetch_next(a, (b) + j);                                                        \
      _tile_loadd(4, (a).base + ((b) + j) * (a).step, (a).stride);                      \
      _tile_loadd(6, (xq) + 512 * ((b) + j), 64);                                       \
      _tile_dpbssd(ct, 4, 6);                                                           \
      if (j + 1 >= (n)) break;                                                          \
      prefetch_next(a, (b) + j + 1);                                                    \
      _tile_loadd(5, (a).base + ((b) + j + 1) * (a).step, (a).stride);                  \
      _tile_loadd(7, (xq) + 512 * ((b) + j + 1), 64);                                   \
      _tile_dpbssd(ct, 5, 7);                                                           \
    }                                                                                   \
    compiler_fence();                                                                   \
  } while (0)

// The same with K = 64 products, a pair of blocks each (b even; an odd n's last pair has
// zero activations in its second half). Pairs alternate A and B tiles.
#define AIRT_AMX_PAIRS(ct, a, xq, b, n)                                                 \
  do {                                                                                  \
    compiler_fence();                                                                   \
    _tile_zero(ct);                                                                     \
    for (int64_t j = 0; j < (n); j += 2) {                                              \
      prefetch_next(a, (b) + j);                                                        \
      prefetch_next(a, (b) + j + 1);                                                    \
      if ((((b) + j) & 2) == 0) {                                                       \
        _tile_loadd(4, (a).base + ((b) + j) * (a).step, (a).stride);                    \
        _tile_loadd(6, (xq) + 512 * ((b) + j), 64);                                     \
        _tile_dpbssd(ct, 4, 6);                                                         \
      } else {                                                                          \
        _tile_loadd(5, (a).base + ((b) + j) * (a).step, (a).stride);                    \
        _tile_loadd(7, (xq) + 512 * ((b) + j), 64);                                     \
        _tile_dpbssd(ct, 5, 7);                                                         \
      }                                                                                 \
    }                                                                                   \
    compiler_fence();                                                                   \
  } while (0)

template <bool kPairs>
inline void group_product(const APanel& a, const uint8_t* xq, int64_t b, int64_t n, int64_t g) {
  if constexpr (kPairs) {
    switch (g & 3) {
      case 0: AIRT_AMX_PAIRS(0, a, xq, b, n); break;
      case 1: AIRT_AMX_PAIRS(1, a, xq, b, n); break;
      case 2: AIRT_AMX_PAIRS(2, a, xq, b, n); break;
      default: AIRT_AMX_PAIRS(3, a, xq, b, n); break;
    }
    return;
  }
  switch (g & 3) {
    case 0: AIRT_AMX_GROUP(0, a, xq, b, n); break;
    case 1: AIRT_AMX_GROUP(1, a, xq, b, n); break;
    case 2: AIRT_AMX_GROUP(2, a, xq, b, n); break;
    default: AIRT_AMX_GROUP(3, a, xq, b, n); break;
  }
}
#undef AIRT_AMX_GROUP
#undef AIRT_AMX_PAIRS

// acc[r] += C[r] * dx * (row r's scale of each lane's block), for one group's C tile.
inline void scale_group(const int32_t* c, const float* dx, const float* dw, __m512i lane_block, __m512* acc) {
  const __m512 x = _mm512_load_ps(dx);
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
    const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r)), x);
    const __m512 s = _mm512_permutexvar_ps(lane_block, _mm512_loadu_ps(dw + r * kDwStride));
    acc[r] = _mm512_fmadd_ps(t, s, acc[r]);
  }
}

// out[c * ldo + r] (+)= the sum over block slots j of lane j * ncp + c of acc[r].
void finish_narrow(const __m512* acc, int g_blocks, int ncp, float* out, int64_t ldo, int rows, int nc, bool add) {
  alignas(64) float t[kRows * kCols];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) _mm512_store_ps(t + 16 * r, acc[r]);
  const __m512i down = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(kCols));
  const __mmask16 mask = rows == kRows ? __mmask16(0xffff) : __mmask16((1u << rows) - 1u);
  for (int col = 0; col < nc; ++col) {
    __m512 v = _mm512_i32gather_ps(down, t + col, 4);
    for (int j = 1; j < g_blocks; ++j) v = _mm512_add_ps(v, _mm512_i32gather_ps(down, t + j * ncp + col, 4));
    float* o = out + col * ldo;
    if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, o));
    _mm512_mask_storeu_ps(o, mask, v);
  }
}

// One panel of 16 rows over one staged chunk of nb blocks, on the narrow path.
template <bool kPairs>
void narrow_panel(const APanel& a, const uint8_t* xq, const float* dx, int64_t nb, int ncp, float* out, int64_t ldo,
                  int rows, int nc, bool add) {
  constexpr int64_t kDepth = 2;  // groups issued ahead of the one being scaled
  const int g_blocks = kCols / ncp;
  const int64_t groups = (nb + g_blocks - 1) / g_blocks;
  alignas(64) int32_t c[4][kRows * kCols];
  __m512 acc[kRows];
#pragma GCC unroll 16
  for (auto& v : acc) v = _mm512_setzero_ps();
  const __m512i lane_block = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               __builtin_ctz(unsigned(ncp)));
  auto issue = [&](int64_t g) {
    const int64_t b = g * g_blocks;
    group_product<kPairs>(a, xq, b, nb - b < g_blocks ? nb - b : g_blocks, g);
    store_c(g, c[g & 3]);
  };
  for (int64_t g = 0; g < kDepth && g < groups; ++g) issue(g);
  for (int64_t g = 0; g < groups; ++g) {
    if (g + kDepth < groups) issue(g + kDepth);
    scale_group(c[g & 3], dx + 16 * g, a.dw + g * g_blocks, lane_block, acc);
  }
  finish_narrow(acc, g_blocks, ncp, out, ldo, rows, nc, add);
}

using StageFn = APanel (*)(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* stage,
                           float* dw);

// More than 8 columns: groups of 16 columns, one C tile per block.
template <StageFn Stage, size_t kBlockBytes>
void wide_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const XTile* xt,
               float* out, int64_t ldo, uint8_t* stage) {
  const int64_t nb_all = k / 32;
  auto* dw = reinterpret_cast<float*>(stage + kStageBytes);
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r = r0; r < r1; r += kRows) {
    const int rows = int(r1 - r < kRows ? r1 - r : kRows);
    for (int64_t b0 = 0; b0 < nb_all; b0 += kChunk) {
      const int64_t nb = nb_all - b0 < kChunk ? nb_all - b0 : kChunk;
      APanel a = Stage(wb + size_t(r) * w_stride, w_stride, rows, b0, nb, stage, dw);
      const int64_t next_r = b0 + kChunk < nb_all ? r : r + kRows;
      const int64_t next_b = b0 + kChunk < nb_all ? b0 + kChunk : 0;
      if (next_r < r1) a.next = wb + size_t(next_r) * w_stride + size_t(next_b) * kBlockBytes;
      a.next_stride = w_stride, a.next_step = kBlockBytes;
      for (int64_t c0 = 0; c0 < ncols; c0 += kCols) {
        const int nc = int(ncols - c0 < kCols ? ncols - c0 : kCols);
        // The first group fetches the next panel; later ones find this one in L2.
        panel_group(a, xt + (c0 / kCols) * nb_all + b0, nb, c0 == 0, out + c0 * ldo + r, ldo, rows,
                    nc, b0 > 0);
      }
    }
  }
}

// At most 8 columns: the chunk's activations are staged once for all the panels. kPairs:
// Stage lays the blocks out in pairs and the products take K = 64.
template <StageFn Stage, size_t kBlockBytes, bool kPairs>
void narrow_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const XTile* xt,
                 float* out, int64_t ldo, uint8_t* stage) {
  const int64_t nb_all = k / 32;
  const int nc = int(ncols);
  const int ncp = nc <= 1 ? 1 : nc <= 2 ? 2 : nc <= 4 ? 4 : 8;
  uint8_t* xq = stage + kStageBytes + kDwBytes;
  auto* dx = reinterpret_cast<float*>(xq + kNarrowXBytes);
  const auto* wb = static_cast<const uint8_t*>(w);
  if constexpr (!kPairs) {
    // Q8_0 reads full panels in place: staged one panel at a time, the next one fetched.
    auto* dw = reinterpret_cast<float*>(stage + kStageBytes);
    for (int64_t b0 = 0; b0 < nb_all; b0 += kChunk) {
      const int64_t nb = nb_all - b0 < kChunk ? nb_all - b0 : kChunk;
      stage_narrow(xt, b0, nb, nc, ncp, xq, dx);
      for (int64_t r = r0; r < r1; r += kRows) {
        const int rows = int(r1 - r < kRows ? r1 - r : kRows);
        APanel a = Stage(wb + size_t(r) * w_stride, w_stride, rows, b0, nb, stage, dw);
        const int64_t next_r = r + kRows < r1 ? r + kRows : r0;
        const int64_t next_b = r + kRows < r1 ? b0 : b0 + kChunk;
        if (next_b < nb_all) a.next = wb + size_t(next_r) * w_stride + size_t(next_b) * kBlockBytes;
        a.next_stride = w_stride, a.next_step = kBlockBytes;
        narrow_panel<kPairs>(a, xq, dx, nb, ncp, out + r, ldo, rows, nc, b0 > 0);
      }
    }
    return;
  }
  // Two stages: panel t + 1 is staged before panel t is multiplied, so a tile load never
  // reads bytes that vector stores have only just written (it would wait for them to
  // drain, stalling the tile unit on every panel).
  uint8_t* stages[2] = {stage, stage + kNarrowBytes};
  const int64_t panels = (r1 - r0 + kRows - 1) / kRows;
  const int64_t total = panels * ((nb_all + kChunk - 1) / kChunk);
  // Panel t: rows from r0 + kRows * (t % panels), blocks from kChunk * (t / panels).
  auto stage_panel = [&](int64_t t) {
    const int64_t r = r0 + kRows * (t % panels), b0 = kChunk * (t / panels);
    const int64_t nb = nb_all - b0 < kChunk ? nb_all - b0 : kChunk;
    const int rows = int(r1 - r < kRows ? r1 - r : kRows);
    uint8_t* s = stages[t & 1];
    return Stage(wb + size_t(r) * w_stride, w_stride, rows, b0, nb, s, reinterpret_cast<float*>(s + kStageBytes));
  };
  APanel cur = stage_panel(0);
  for (int64_t t = 0; t < total; ++t) {
    const int64_t r = r0 + kRows * (t % panels), b0 = kChunk * (t / panels);
    const int64_t nb = nb_all - b0 < kChunk ? nb_all - b0 : kChunk;
    const int rows = int(r1 - r < kRows ? r1 - r : kRows);
    if (t % panels == 0) stage_narrow(xt, b0, nb, nc, ncp, xq, dx);
    const APanel next = t + 1 < total ? stage_panel(t + 1) : cur;
    // While this panel is multiplied, the one staged after the next is fetched.
    if (t + 2 < total) {
      const int64_t nr = r0 + kRows * ((t + 2) % panels), nb0 = kChunk * ((t + 2) / panels);
      cur.next = wb + size_t(nr) * w_stride + size_t(nb0) * kBlockBytes;
    }
    cur.next_stride = w_stride, cur.next_step = kBlockBytes;
    narrow_panel<kPairs>(cur, xq, dx, nb, ncp, out + r, ldo, rows, nc, b0 > 0);
    cur = next;
  }
}

// Wide stages blocks for K = 32 products; Narrow, used for at most 8 columns, for K = 64
// when kNarrowPairs.
template <StageFn Wide, StageFn Narrow, size_t kBlockBytes, bool kNarrowPairs>
void amx_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
              float* out, int64_t ldo, void* scratch) {
  const auto* xt = static_cast<const XTile*>(x);
  auto* stage = static_cast<uint8_t*>(scratch);
  if (ncols <= 8) {
    const TileScope tiles(kNarrowPairs ? 64 : 32);
    return narrow_gemm<Narrow, kBlockBytes, kNarrowPairs>(k, r0, r1, ncols, w, w_stride, xt, out, ldo, stage);
  }
  const TileScope tiles(32);
  wide_gemm<Wide, kBlockBytes>(k, r0, r1, ncols, w, w_stride, xt, out, ldo, stage);
}

}  // namespace

void fill_tiles(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  q4.tile_x_bytes = q8.tile_x_bytes = x_tile_bytes;
  q4.tile_x_from_float = q8.tile_x_from_float = x_from_float;
  q4.tile_gemm = amx_gemm<stage_q4_0, stage_q4_0_pairs, sizeof(BlockQ4_0), true>;
  q8.tile_gemm = amx_gemm<stage_q8_0, stage_q8_0, sizeof(BlockQ8_0), false>;
  // From where each beats the AVX-512 table's products (measured, see the top).
  q4.tile_min_cols = 8;
  q8.tile_min_cols = 3;
}

}  // namespace airt::hal::amx
