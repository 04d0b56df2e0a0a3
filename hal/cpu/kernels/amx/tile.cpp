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
// Scales are per 32-block, per weight row and per activation column, so every block's
// 16 x 16 int32 product is stored and added into float accumulators with AVX-512:
// acc[r] += (float(C[r]) * dx) * dw[r]. That float work, not the TMUL, bounds the kernel,
// and it costs the same for 1 or 16 columns: this path pays once a step has a few rows.
// Two sets of tiles alternate so the next block's product runs while this one is scaled.
//
// AMX state needs the OS's permission (features.cpp asks for it once, before the table
// is offered) and a tile configuration in every thread that runs a product (set on its
// first call; nothing else in airt configures tiles).
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
static_assert(kStageBytes + size_t(kChunk) * 64 <= kTileScratchBytes);

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

// Palette 1: tmm0/1 the C tiles (16 rows x 16 int32), tmm2/3 the A tiles (16 rows x
// 32 bytes), tmm4/5 the B tiles (8 rows of 4 bytes x 16 columns). One configuration
// serves every product, so each thread loads it once.
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64);

void configure_tiles() {
  thread_local bool configured = false;
  if (configured) return;
  TileConfig cfg{};
  cfg.palette = 1;
  for (int t = 0; t < 2; ++t) {
    cfg.colsb[t] = 64, cfg.rows[t] = 16;          // C
    cfg.colsb[2 + t] = 32, cfg.rows[2 + t] = 16;  // A
    cfg.colsb[4 + t] = 64, cfg.rows[4 + t] = 8;   // B
  }
  compiler_fence();
  _tile_loadconfig(&cfg);
  configured = true;
}

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

// Where a panel's A tiles are: block b of row r at base + b * step + r * stride, and
// its 16 weight scales at dw + 16 * b (rows past the panel: 0).
struct APanel {
  const uint8_t* base;
  size_t stride;
  size_t step;
  const float* dw;
  bool prefetch;  // the A tiles come from memory: fetch ahead in the first column group
};

// Scales of blocks [b0, b0 + nb) of `rows` rows into dw[16 * b]: one gather per block
// (each row's block starts with its f16 scale).
void stage_scales(const uint8_t* w, size_t stride, int rows, size_t block_bytes, int64_t b0, int64_t nb,
                  float* dw) {
  const __mmask16 mask = rows == kRows ? __mmask16(0xffff) : __mmask16((1u << rows) - 1u);
  const __m512i at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                        _mm512_set1_epi32(int(stride)));
  const uint8_t* base = w + size_t(b0) * block_bytes;
  for (int64_t b = 0; b < nb; ++b, base += block_bytes) {
    const __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, at, base, 1);
    _mm512_store_ps(dw + 16 * b, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
  }
}

// Q8_0: a full panel is read in place; a partial one is copied, its missing rows zero.
APanel stage_q8_0(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* stage, float* dw) {
  stage_scales(w, stride, rows, sizeof(BlockQ8_0), b0, nb, dw);
  const uint8_t* first = w + size_t(b0) * sizeof(BlockQ8_0) + offsetof(BlockQ8_0, qs);
  if (rows == kRows) return {first, stride, sizeof(BlockQ8_0), dw, true};
  std::memset(stage, 0, size_t(nb) * 512);
  for (int r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) std::memcpy(stage + 512 * b + 32 * r, first + r * stride + b * sizeof(BlockQ8_0), 32);
  }
  return {stage, 32, 512, dw, false};
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

// Q4_0: every panel is unpacked; rows past a partial panel are zero.
APanel stage_q4_0(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* stage, float* dw) {
  stage_scales(w, stride, rows, sizeof(BlockQ4_0), b0, nb, dw);
  const uint8_t* first = w + size_t(b0) * sizeof(BlockQ4_0) + offsetof(BlockQ4_0, qs);
  if (rows < kRows) std::memset(stage, 0, size_t(nb) * 512);
  const int full = rows / 4 * 4;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = first + b * sizeof(BlockQ4_0);
    // 16 rows are 16 streams, more than the hardware prefetcher follows.
    for (int r = 0; r < rows; ++r) _mm_prefetch(reinterpret_cast<const char*>(p + r * stride + 8 * sizeof(BlockQ4_0)), _MM_HINT_T0);
    for (int r = 0; r < full; r += 4) unpack_q4_0_x4(p + r * stride, stride, stage + 512 * b + 32 * r);
    for (int r = full; r < rows; ++r) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + r * stride));
      const __m128i m4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
      auto* d = reinterpret_cast<__m128i*>(stage + 512 * b + 32 * r);
      _mm_store_si128(d, _mm_sub_epi8(_mm_and_si128(v, m4), eight));
      _mm_store_si128(d + 1, _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), eight));
    }
  }
  return {stage, 32, 512, dw, false};
}

// acc[r] (lane c) += dw[r] * dx[c] * C[r][c] for one block's stored C tile.
inline void scale_block(const int32_t* c, const float* dx, const float* dw, __m512* acc) {
  const __m512 x = _mm512_load_ps(dx);
  for (int r = 0; r < kRows; ++r) {
    const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r)), x);
    acc[r] = _mm512_fmadd_ps(t, _mm512_set1_ps(dw[r]), acc[r]);
  }
}

// One block's product into C tile 0 or 1, stored to c (the tile numbers are part of
// the instruction, hence two copies).
inline void product0(const uint8_t* a, size_t stride, const XTile* x, int32_t* c) {
  compiler_fence();
  _tile_zero(0);
  _tile_loadd(2, a, stride);
  _tile_loadd(4, x->q, 64);
  _tile_dpbssd(0, 2, 4);
  _tile_stored(0, c, 64);
  compiler_fence();
}
inline void product1(const uint8_t* a, size_t stride, const XTile* x, int32_t* c) {
  compiler_fence();
  _tile_zero(1);
  _tile_loadd(3, a, stride);
  _tile_loadd(5, x->q, 64);
  _tile_dpbssd(1, 3, 5);
  _tile_stored(1, c, 64);
  compiler_fence();
}

inline void prefetch_rows(const APanel& a, int64_t b) {
  const char* p = reinterpret_cast<const char*>(a.base + b * a.step);
  for (int r = 0; r < kRows; ++r) _mm_prefetch(p + r * a.stride, _MM_HINT_T0);
}

// 16 rows x nc (<= 16) columns over nb blocks: out[c * ldo + r] = (or +=) the sums.
void panel_group(const APanel& a, const XTile* x, int64_t nb, bool prefetch, float* out, int64_t ldo, int rows,
                 int nc, bool add) {
  constexpr int64_t kAhead = 8;  // blocks: about 300 bytes of each Q8_0 row
  alignas(64) int32_t c[2][kRows * kCols];
  __m512 acc[kRows];
  for (auto& v : acc) v = _mm512_setzero_ps();
  product0(a.base, a.stride, x, c[0]);
  for (int64_t b = 0; b < nb; b += 2) {
    if (prefetch) prefetch_rows(a, b + kAhead);
    if (b + 1 < nb) product1(a.base + (b + 1) * a.step, a.stride, x + b + 1, c[1]);
    scale_block(c[0], x[b].d, a.dw + 16 * b, acc);
    if (b + 1 >= nb) break;
    if (prefetch) prefetch_rows(a, b + 1 + kAhead);
    if (b + 2 < nb) product0(a.base + (b + 2) * a.step, a.stride, x + b + 2, c[0]);
    scale_block(c[1], x[b + 1].d, a.dw + 16 * (b + 1), acc);
  }
  // acc[r] holds row r's columns; out wants column c's rows: transpose through memory.
  alignas(64) float t[kRows * kCols];
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

using StageFn = APanel (*)(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* stage,
                           float* dw);

template <StageFn Stage>
void amx_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
              float* out, int64_t ldo, void* scratch) {
  configure_tiles();
  const int64_t nb_all = k / 32;
  const auto* xt = static_cast<const XTile*>(x);
  auto* stage = static_cast<uint8_t*>(scratch);
  auto* dw = reinterpret_cast<float*>(stage + kStageBytes);
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r = r0; r < r1; r += kRows) {
    const int rows = int(r1 - r < kRows ? r1 - r : kRows);
    for (int64_t b0 = 0; b0 < nb_all; b0 += kChunk) {
      const int64_t nb = nb_all - b0 < kChunk ? nb_all - b0 : kChunk;
      const APanel a = Stage(wb + size_t(r) * w_stride, w_stride, rows, b0, nb, stage, dw);
      for (int64_t c0 = 0; c0 < ncols; c0 += kCols) {
        const int nc = int(ncols - c0 < kCols ? ncols - c0 : kCols);
        // Only the first group reads the weights from memory; later ones find them in L2.
        panel_group(a, xt + (c0 / kCols) * nb_all + b0, nb, a.prefetch && c0 == 0, out + c0 * ldo + r, ldo, rows,
                    nc, b0 > 0);
      }
    }
  }
}

}  // namespace

void fill_tiles(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  q4.tile_x_bytes = q8.tile_x_bytes = x_tile_bytes;
  q4.tile_x_from_float = q8.tile_x_from_float = x_from_float;
  q4.tile_gemm = amx_gemm<stage_q4_0>;
  q8.tile_gemm = amx_gemm<stage_q8_0>;
  q4.tile_min_cols = 2;
  q8.tile_min_cols = 2;
}

}  // namespace airt::hal::amx
