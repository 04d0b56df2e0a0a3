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
#include <type_traits>
#include <utility>

#include "hal/cpu/kernels/x86_panel.h"
#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

constexpr size_t kBlockBytes = kLegacyBlockBytes;  // one 32-block of the panel: weights, scales
constexpr int64_t kChunkBlocks = 128;  // blocks of K packed at a time (72 KiB of panel)

// The activations of kCols columns for one 32-block. q holds 8-byte pieces,
// column-interleaved; the panel kernel reaches column c's 4 bytes j at a constant offset.
struct alignas(64) XLanes {
  int8_t q[4][kCols][8];  // q[m][c] = elements 8m..8m+7 of column c
  float d[kCols];         // scale of column c
  int32_t c[kCols];       // -offset * sum(q) of column c
};
static_assert(sizeof(XLanes) == 320);

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

// acc += w (unsigned bytes) · the 4 signed bytes at base + Off, broadcast from memory as
// part of the instruction. Left to itself the compiler loads two neighbouring groups at
// once and broadcasts each from a register (a shuffle-port uop per product); given a
// pointer per operand it keeps dozens of pointers live and spills them. One base register
// and constant offsets leave the loop with nothing but the products.
template <int Off>
inline __attribute__((always_inline)) __m512i dpbusd_at(__m512i acc, __m512i w, const int8_t* base) {
  asm("vpdpbusd %c[off](%[p])%{1to16%}, %[w], %[acc]" : [acc] "+v"(acc) : [p] "r"(base), [off] "i"(Off), [w] "v"(w));
  return acc;
}

// f(integral_constant<int, 0>) ... f(integral_constant<int, N - 1>): an unrolled loop whose
// index is a constant expression.
template <int N, class F>
inline __attribute__((always_inline)) void unrolled(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f(std::integral_constant<int, I>{}), ...); }(
      std::make_integer_sequence<int, N>{});
}

// One block of a packed panel (16 rows) against columns c0..c0+C-1 of x, added into acc.
// vpdpbusd's latency is covered by independent chains: with C >= 6 columns each column's
// 8 products are one chain; with fewer, two (even and odd groups of 4 bytes).
template <int C>
inline __attribute__((always_inline)) void micro_block(const uint8_t* panel, const XLanes* x, int c0, __m512* acc) {
  constexpr bool kTwo = C < 6;
  __m512i w[8];
  for (int j = 0; j < 8; ++j) w[j] = _mm512_load_si512(panel + 64 * j);
  const __m512 s = _mm512_load_ps(panel + 512);
  const int8_t* q = x->q[0][c0];  // byte 4j' of column c0 + c's group m at q + 64 m + 8 c + 4 j'
  __m512i e[C], o[kTwo ? C : 1];
  for (int c = 0; c < C; ++c) e[c] = _mm512_set1_epi32(x->c[c0 + c]);
  if constexpr (kTwo)
    for (int c = 0; c < C; ++c) o[c] = _mm512_setzero_si512();
  unrolled<4>([&](auto m) {
    unrolled<C>([&](auto c) {
      e[c] = dpbusd_at<64 * m + 8 * c>(e[c], w[2 * m], q);
      if constexpr (kTwo)
        o[c] = dpbusd_at<64 * m + 8 * c + 4>(o[c], w[2 * m + 1], q);
      else
        e[c] = dpbusd_at<64 * m + 8 * c + 4>(e[c], w[2 * m + 1], q);
    });
  });
  for (int c = 0; c < C; ++c) {
    const __m512i sum = kTwo ? _mm512_add_epi32(e[c], o[c]) : e[c];
    const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), s);
    acc[c] = _mm512_fmadd_ps(t, _mm512_set1_ps(x->d[c0 + c]), acc[c]);
  }
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
