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
// Q4_0 and Q8_0 pack 16 rows at a time through registers (pack_*_x16), cheaply enough
// that their panels pay from 6 (Q4_0) or 3 (Q8_0) columns; below that gemv.cpp streams
// the weights. A column's sum runs in one order (each chunk of kChunkBlocks blocks in
// block order, chunks added in turn) whatever the columns beside it, so its result does
// not depend on how many columns share the call. One micro-kernel call takes a whole
// record of 8 columns and reaches every activation byte from one base register: at 8
// columns the 64 products of a block keep vpdpbusd's port busy (about 190 GMAC/s of a
// 220 peak on one Xeon core, where the 4-column kernel with a pointer per operand reached
// 70) and packing is the larger cost left.
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/x86_panel.h"
#include "hal/cpu/kernels/avx512/lanes.h"
#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

constexpr size_t kBlockBytes = kLegacyBlockBytes;  // one 32-block of the panel: weights, scales
constexpr int64_t kChunkBlocks = 128;  // blocks of K packed at a time (72 KiB of panel)

static_assert(kLaneCols == kCols, "one record is one micro-kernel call");

size_t x_lanes_bytes(int64_t k, int64_t ncols) {
  return size_t((ncols + kCols - 1) / kCols) * size_t(k / 32) * sizeof(XLanes);
}

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
    rec[i].d[c] = d;
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
    _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(q0));
    _mm_store_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(q1));
    for (int m = 0; m < 4; ++m) std::memcpy(rec[i].q[m][c], q + 8 * m, 8);
    rec[i].c[c] = -Offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

// One block of a packed panel (16 rows) against columns c0..c0+C-1 of x, added into acc.
template <int C>
inline __attribute__((always_inline)) void micro_block(const uint8_t* panel, const XLanes* x, int c0, __m512* acc) {
  __m512i w[8];
  for (int j = 0; j < 8; ++j) w[j] = _mm512_load_si512(panel + 64 * j);
  lanes_block<C>(w, _mm512_load_ps(panel + 512), x, c0, acc);
}

// 16 rows × C columns (c0.. of each record) over nb blocks of a packed panel;
// out[c * ldo + r] = (or +=) result: each column's blocks in order, one float chain.
template <int C>
void micro(int64_t nb, const uint8_t* panel, const XLanes* x, int c0, float* out, int64_t ldo, __mmask16 mask,
           bool add) {
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) micro_block<C>(panel + b * kBlockBytes, x + b, c0, acc);
  for (int c = 0; c < C; ++c) store_rows(acc[c], out + c * ldo, mask, add);
}

constexpr int kMicroCols = 8;  // = kCols: one call takes a whole record of columns
using MicroFn = void (*)(int64_t, const uint8_t*, const XLanes*, int, float*, int64_t, __mmask16, bool);
constexpr MicroFn kMicro[kMicroCols + 1] = {nullptr,  micro<1>, micro<2>, micro<3>, micro<4>,
                                            micro<5>, micro<6>, micro<7>, micro<8>};

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

// Q8_0 rows as pack_q8_0 does, 16 at a time as pack_q4_0_x16: each half of a block's 32
// quants is one 4 x 4 transpose of four vectors.
inline void pack_q8_0_x16(const uint8_t* w, size_t stride, int rows, int64_t b0, int64_t nb, uint8_t* panel) {
  if (rows < kRows) return pack_q8_0(w, stride, rows, b0, nb, panel);
  const __m512i flip = _mm512_set1_epi8(char(0x80));
  const __m512i rows_at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(int(stride)));
  const uint8_t* base = w + size_t(b0) * sizeof(BlockQ8_0);
  for (int64_t b = 0; b < nb; ++b, base += sizeof(BlockQ8_0), panel += kBlockBytes) {
    for (int r = kRows; r < 2 * kRows; ++r) _mm_prefetch(reinterpret_cast<const char*>(base) + r * stride, _MM_HINT_T0);
    for (int h = 0; h < 2; ++h) {
      __m512i z[4];
      for (int a = 0; a < 4; ++a) {
        const auto* p = base + offsetof(BlockQ8_0, qs) + 16 * h + size_t(a) * stride;
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 4 * stride)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * stride)), 2);
        z[a] = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 12 * stride)), 3);
      }
      const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
      const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
      const __m512i q[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
                            _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3)};
      for (int j = 0; j < 4; ++j) _mm512_store_si512(panel + 64 * (4 * h + j), _mm512_xor_si512(q[j], flip));
    }
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
                 for (int64_t c0 = 0; c0 < ncols; c0 += kMicroCols) {
                   const int nc = int(ncols - c0 < kMicroCols ? ncols - c0 : kMicroCols);
                   kMicro[nc](nb, panel, xr + (c0 / kCols) * nb_all + b0, int(c0 % kCols), out + c0 * ldo + r, ldo,
                              mask, b0 > 0);
                 }
               }, kChunkBlocks);
}

}  // namespace

void fill_tiles(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  set_tiles(q4, x_lanes_bytes, x_from_float<8>, packed_gemm<pack_q4_0_x16>);
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ5_0)], x_lanes_bytes, x_from_float<16>, packed_gemm<pack_q5_0>);
  set_tiles(q8, x_lanes_bytes, x_from_float<128>, packed_gemm<pack_q8_0_x16>);
  // One pass of gemv.cpp covers up to 8 columns. A TinyLlama layer's matrices on 2 threads
  // (gemv and panels in turn, medians of 7): Q4_0 panels cost 1.15 / 1.10 / 1.01 / 0.88x
  // gemv at 4 / 5 / 6 / 7 columns (packing costs about what the narrow weights take to
  // read), Q8_0 panels 1.01x at 3 and 0.89x at 4 (gemv pays more for whole-block sums than
  // the panel costs to build).
  q4.tile_min_cols = 6;
  q8.tile_min_cols = 3;
}

}  // namespace airt::hal::avx512
