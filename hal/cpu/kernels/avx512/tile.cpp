// AVX-512 VNNI tiled matrix products for prompt processing (Q4_0, Q5_0 and Q8_0 weights).
//
// The weights are not repacked at load: each thread packs a panel of 16 rows × a chunk
// of K into its scratch, "rows in lanes": for every 32-element block, 8 vectors whose
// 32-bit lane r holds 4 consecutive weights of row r as unsigned bytes, then the 16 row
// scales. One vpdpbusd with a broadcast group of 4 activation bytes then adds 4 products
// to each of 16 rows, and a block of one activation column is 8 such instructions with no
// horizontal sums; the per-block scales cost 3 more. The panel is reused across all the
// activation columns, so packing is paid once per 16 rows.
//
// vpdpbusd multiplies unsigned by signed bytes: weights are stored offset to be unsigned
// (Q4_0 as its raw nibble 0..15 = q + 8, Q5_0 as its 5 bits 0..31 = q + 16, Q8_0 as
// q + 128) and the offset comes back out through the per-block activation sum:
// sum((q + o) x) - o sum(x). The activations are quantized exactly as generic Q8_0 does,
// so results equal the generic gemm's up to the order of float additions.
//
// Q4_0 packs 16 rows at a time through registers (pack_q4_0_x16), cheaply enough that
// its panels pay from 5 columns (below that gemv.cpp streams the weights). For Q8_0 the
// panel costs more than it saves below kPackMinCols: there its weights are read as stored and the activations sit in the
// lanes instead, "columns in lanes": lanes 2c and 2c+1 hold 8 activation bytes of column c
// (of 8), and one 64-bit broadcast of 8 weight bytes multiplies all 8 columns at once. A
// block of 4 weight rows × 16 columns is one pass over the weights, so every weight byte
// is read from memory once however many columns there are.
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/x86_panel.h"
#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

constexpr size_t kBlockBytes = kLegacyBlockBytes;  // one 32-block of the panel: weights, scales
// Columns from which packing a panel pays for itself: on a 5632 x 2048 Q4_0 matrix, one
// thread, the two kernels were even at 32 columns and the panels ahead from 48; in the
// whole forward pass on two threads (synthetic TinyLlama Q4_0) pp32 and pp40 ran faster
// through the lanes kernel, so it takes every count below 48.
constexpr int64_t kPackMinCols = 48;

// The activations of kCols columns for one 32-block: both kernels' layout. q holds 8-byte
// pieces, column-interleaved, so the lanes kernel loads a piece of all 8 columns as one
// vector and the panel kernel still reaches column c's 4 bytes j at a constant offset.
struct alignas(64) XLanes {
  int8_t q[4][kCols][8];  // q[m][c] = elements 8m..8m+7 of column c
  float d[kCols];         // scale of column c
  int32_t c[kCols];       // -offset * sum(q) of column c
  float d2[16];           // lanes 2c, 2c+1: d of column c
  int32_t c2[16];         // lane 2c + h: -offset * sum of the elements that lane takes
};
static_assert(sizeof(XLanes) == 448);

size_t x_lanes_bytes(int64_t k, int64_t ncols) {
  return size_t((ncols + kCols - 1) / kCols) * size_t(k / 32) * sizeof(XLanes);
}

inline __m512i bcast_q(const XLanes* x, int c, int j) { return bcast4(x->q[j / 2][c] + 4 * (j % 2)); }

// Same result as the generic Q8_0 quantizer, to the bit: amax/127 rounded to f16 is the
// scale, values are x * (127/amax) rounded to nearest even.
template <int Offset>
void x_from_float(const float* src, int64_t k, void* x, int64_t col) {
  const int64_t nb = k / 32;
  auto* rec = static_cast<XLanes*>(x) + (col / kCols) * nb;
  const int c = int(col % kCols);
  alignas(32) int8_t q[32];
  for (int64_t i = 0; i < nb; ++i, src += 32) {
    const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const uint16_t dh = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const float d = _cvtsh_ss(dh);
    rec[i].d[c] = rec[i].d2[2 * c] = rec[i].d2[2 * c + 1] = d;
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
    _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(q0));
    _mm_store_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(q1));
    for (int m = 0; m < 4; ++m) std::memcpy(rec[i].q[m][c], q + 8 * m, 8);
    const __m512i qs = _mm512_add_epi32(q0, q1);
    const int32_t sum = _mm512_reduce_add_epi32(qs);
    rec[i].c[c] = -Offset * sum;
    // Each lane of a column undoes the offset of its own elements (the lanes kernel's lane
    // 2c takes elements 8m..8m+3, lane 2c+1 8m+4..8m+7), so neither lane's integer sum
    // carries a large cancelling term into the float conversion.
    const int32_t half = _mm512_mask_reduce_add_epi32(0x0f0f, qs);
    rec[i].c2[2 * c] = -Offset * half;
    rec[i].c2[2 * c + 1] = -Offset * (sum - half);
  }
}

// 16 rows × C columns over nb blocks of a packed panel; out[c * ldo + r] = (or +=) result.
template <int C>
void micro(int64_t nb, const uint8_t* panel, const XLanes* x, float* out, int64_t ldo, __mmask16 mask, bool add) {
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, panel += kBlockBytes, ++x) {
    __m512i w[8];
    for (int j = 0; j < 8; ++j) w[j] = _mm512_load_si512(panel + 64 * j);
    const __m512 s = _mm512_load_ps(panel + 512);
    for (int c = 0; c < C; ++c) {
      __m512i acc_i = _mm512_set1_epi32(x->c[c]);
      for (int j = 0; j < 8; ++j) acc_i = _mm512_dpbusd_epi32(acc_i, w[j], bcast_q(x, c, j));
      const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc_i), s);
      acc[c] = _mm512_fmadd_ps(t, _mm512_set1_ps(x->d[c]), acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) store_rows(acc[c], out + c * ldo, mask, add);
}

using MicroFn = void (*)(int64_t, const uint8_t*, const XLanes*, float*, int64_t, __mmask16, bool);
constexpr MicroFn kMicro[kCols + 1] = {nullptr,   micro<1>, micro<2>, micro<3>, micro<4>,
                                       micro<5>, micro<6>, micro<7>, micro<8>};

// One weight block of a row as the lanes kernel consumes it: 32 unsigned bytes in element
// order (the panel's offset q + 128) and the f32 scale.
struct StageQ8_0 {
  static constexpr size_t kBytes = sizeof(BlockQ8_0);
  static void stage(const uint8_t* blk, uint8_t* q, float* d) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(blk);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs));
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), _mm256_xor_si256(v, _mm256_set1_epi8(char(0x80))));
    *d = f16(b->d);
  }
};

// R weight rows (from w, stride bytes apart) × G groups of kCols columns (x, records
// nb apart per group) over all nb blocks: out[c * ldo + r] for the columns whose lanes are
// in `lanes` (bits 2c and 2c+1 of each group's mask).
template <class Stage, int R, int G>
void lanes_micro(int64_t nb, const uint8_t* w, size_t stride, const XLanes* x, const __mmask16* lanes,
                 float* out, int64_t ldo) {
  __m512 acc[R][G];
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_ps();
  alignas(64) uint8_t q[R][32];
  float d[R];
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + size_t(r) * stride + size_t(b) * Stage::kBytes;
      _mm_prefetch(reinterpret_cast<const char*>(blk) + 1024, _MM_HINT_T0);
      Stage::stage(blk, q[r], &d[r]);
    }
    // Through memory on purpose: a 64-bit broadcast from memory is a plain load, where
    // the compiler's register shuffles would take the ports the dot products need.
    asm volatile("" ::: "memory");
    __m512i s[R][G];
    for (int g = 0; g < G; ++g) {
      const __m512i c = _mm512_load_si512(x[g * nb + b].c2);
      for (int r = 0; r < R; ++r) s[r][g] = c;
    }
    for (int m = 0; m < 4; ++m) {
      __m512i xv[G];
      for (int g = 0; g < G; ++g) xv[g] = _mm512_load_si512(x[g * nb + b].q[m]);
      for (int r = 0; r < R; ++r) {
        int64_t piece;
        std::memcpy(&piece, q[r] + 8 * m, 8);
        const __m512i wv = _mm512_set1_epi64(piece);
        for (int g = 0; g < G; ++g) s[r][g] = _mm512_dpbusd_epi32(s[r][g], wv, xv[g]);
      }
    }
    for (int g = 0; g < G; ++g) {
      // Lanes of absent columns hold whatever was there: their scales are read as 0.
      const __m512 dx = _mm512_maskz_load_ps(lanes[g], x[g * nb + b].d2);
      for (int r = 0; r < R; ++r)
        acc[r][g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r][g]), _mm512_mul_ps(dx, _mm512_set1_ps(d[r])), acc[r][g]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < G; ++g) {
      alignas(64) float v[16];
      _mm512_store_ps(v, _mm512_add_ps(acc[r][g], _mm512_permute_ps(acc[r][g], 0xb1)));
      for (int c = 0; c < kCols && (lanes[g] >> (2 * c) & 1); ++c) out[(g * kCols + c) * ldo + r] = v[2 * c];
    }
  }
}

// Rows [r0, r1) against all columns without packing: 8 rows × 8 columns at a time for
// one group, else 4 rows × 16 columns, each block of rows finishing every column before
// the next, so a row is read from memory once. (Blocks of 2 rows × 24 or 32 columns were
// measured slower than 4 × 16 passes: they share each loaded activation with fewer rows.)
template <class Stage>
void lanes_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
                float* out, int64_t ldo) {
  const int64_t nb = k / 32;
  const auto* xr = static_cast<const XLanes*>(x);
  const auto* wb = static_cast<const uint8_t*>(w);
  const int64_t groups = (ncols + kCols - 1) / kCols;
  __mmask16 lanes[kPackMinCols / kCols + 1];
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t nc = ncols - g * kCols < kCols ? ncols - g * kCols : kCols;
    lanes[g] = __mmask16((1u << (2 * nc)) - 1u);
  }
  const int R = groups == 1 ? 8 : 4;
  int64_t r = r0;
  for (; r + R <= r1; r += R) {
    const uint8_t* wr = wb + size_t(r) * w_stride;
    if (groups == 1) {
      lanes_micro<Stage, 8, 1>(nb, wr, w_stride, xr, lanes, out + r, ldo);
      continue;
    }
    int64_t g = 0;
    for (; g + 2 <= groups; g += 2)
      lanes_micro<Stage, 4, 2>(nb, wr, w_stride, xr + g * nb, lanes + g, out + g * kCols * ldo + r, ldo);
    if (g < groups) lanes_micro<Stage, 4, 1>(nb, wr, w_stride, xr + g * nb, lanes + g, out + g * kCols * ldo + r, ldo);
  }
  for (; r < r1; ++r) {
    const uint8_t* wr = wb + size_t(r) * w_stride;
    for (int64_t g = 0; g < groups; ++g)
      lanes_micro<Stage, 1, 1>(nb, wr, w_stride, xr + g * nb, lanes + g, out + g * kCols * ldo + r, ldo);
  }
}

// Q4_0 rows [0, rows) into the panel as pack_q4_0 does, 16 rows at a time through
// registers: each row's 16 quant bytes go into one 128-bit lane of four vectors (rows
// a, a+4, a+8, a+12), a 4 x 4 dword transpose inside the lanes leaves bytes 4j..4j+3 of
// row r in lane r of vector j, and the nibbles split into the panel's 8 vectors. The
// scales come in by one gather. About 3 vector instructions per row and block where the
// scalar packer spent 8 stores per row and block; that packing cost is what kept the
// panels from paying below 48 columns.
inline void pack_q4_0_x16(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* panel) {
  if (rows < kRows) return pack_q4_0(w, stride, rows, b0, nb, panel);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i rows_at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(int(stride)));
  const uint8_t* base = w + size_t(b0) * sizeof(BlockQ4_0);
  for (int64_t b = 0; b < nb; ++b, base += sizeof(BlockQ4_0), panel += kBlockBytes) {
    __m512i z[4];
    // 16 rows are 16 streams, more than the hardware prefetcher follows: the next
    // panel's rows (the next 16 rows of W, contiguous with these) are fetched while
    // this one is packed and multiplied.
    if (b % 2 == 0) {
      for (int r = kRows; r < 2 * kRows; ++r) _mm_prefetch(reinterpret_cast<const char*>(base) + r * stride, _MM_HINT_T0);
    }
    for (int a = 0; a < 4; ++a) {
      const auto* p = base + offsetof(BlockQ4_0, qs) + size_t(a) * stride;
      __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 4 * stride)), 1);
      v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * stride)), 2);
      z[a] = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 12 * stride)), 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    const __m512i q[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
                          _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3)};
    for (int j = 0; j < 4; ++j) {
      _mm512_store_si512(panel + 64 * j, _mm512_and_si512(q[j], m4));
      _mm512_store_si512(panel + 64 * (j + 4), _mm512_and_si512(_mm512_srli_epi16(q[j], 4), m4));
    }
    // Each gathered dword starts with the row's f16 scale.
    const __m512i d = _mm512_i32gather_epi32(rows_at, base, 1);
    _mm512_store_ps(panel + 512, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
  }
}

template <PanelPackFn Pack>
void packed_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
                 float* out, int64_t ldo, void* scratch) {
  const auto* xr = static_cast<const XLanes*>(x);
  const int64_t nb_all = k / 32;
  drive_panels(k, r0, r1, w, w_stride, scratch, kBlockBytes, 9, 1, Pack,
               [&](const uint8_t* panel, int64_t r, int rows, int64_t b0, int64_t nb) {
                 const __mmask16 mask = rows == kRows ? __mmask16(0xffff) : __mmask16((1u << rows) - 1u);
                 for (int64_t c0 = 0; c0 < ncols; c0 += kCols) {
                   const int nc = int(ncols - c0 < kCols ? ncols - c0 : kCols);
                   kMicro[nc](nb, panel, xr + (c0 / kCols) * nb_all + b0, out + c0 * ldo + r, ldo, mask, b0 > 0);
                 }
               });
}

template <PanelPackFn Pack, class Stage>
void tile_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
               float* out, int64_t ldo, void* scratch) {
  if (ncols < kPackMinCols) return lanes_gemm<Stage>(k, r0, r1, ncols, w, w_stride, x, out, ldo);
  packed_gemm<Pack>(k, r0, r1, ncols, w, w_stride, x, out, ldo, scratch);
}

}  // namespace

void fill_tiles(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  set_tiles(q4, x_lanes_bytes, x_from_float<8>, packed_gemm<pack_q4_0_x16>);
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ5_0)], x_lanes_bytes, x_from_float<16>, packed_gemm<pack_q5_0>);
  set_tiles(q8, x_lanes_bytes, x_from_float<128>, tile_gemm<pack_q8_0, StageQ8_0>);
  // One pass of gemv.cpp covers up to 4 columns; from 5 the lanes kernel reads W once.
  q4.tile_min_cols = q8.tile_min_cols = 5;
}

}  // namespace airt::hal::avx512
