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
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/x86_panel.h"
#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

constexpr size_t kBlockBytes = kLegacyBlockBytes;  // one 32-block of the panel: weights, scales

// Same result as the generic Q8_0 quantizer, to the bit: amax/127 rounded to f16 is the
// scale, values are x * (127/amax) rounded to nearest even.
template <int Offset>
void x_from_float(const float* src, int64_t k, void* x, int64_t col) {
  const int64_t nb = k / 32;
  auto* rec = static_cast<XRecord*>(x) + (col / kCols) * nb;
  const int c = int(col % kCols);
  for (int64_t i = 0; i < nb; ++i, src += 32) {
    const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const uint16_t dh = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    rec[i].d[c] = _cvtsh_ss(dh);
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(rec[i].q[c]), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(rec[i].q[c] + 16), _mm512_cvtsepi32_epi8(q1));
    rec[i].c[c] = -Offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

// 16 rows × C columns over nb blocks of a packed panel; out[c * ldo + r] = (or +=) result.
template <int C>
void micro(int64_t nb, const uint8_t* panel, const XRecord* x, float* out, int64_t ldo, __mmask16 mask, bool add) {
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, panel += kBlockBytes, ++x) {
    __m512i w[8];
    for (int j = 0; j < 8; ++j) w[j] = _mm512_load_si512(panel + 64 * j);
    const __m512 s = _mm512_load_ps(panel + 512);
    for (int c = 0; c < C; ++c) {
      __m512i acc_i = _mm512_set1_epi32(x->c[c]);
      for (int j = 0; j < 8; ++j) acc_i = _mm512_dpbusd_epi32(acc_i, w[j], bcast4(x->q[c] + 4 * j));
      const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc_i), s);
      acc[c] = _mm512_fmadd_ps(t, _mm512_set1_ps(x->d[c]), acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) store_rows(acc[c], out + c * ldo, mask, add);
}

using MicroFn = void (*)(int64_t, const uint8_t*, const XRecord*, float*, int64_t, __mmask16, bool);
constexpr MicroFn kMicro[kCols + 1] = {nullptr,   micro<1>, micro<2>, micro<3>, micro<4>,
                                       micro<5>, micro<6>, micro<7>, micro<8>};

template <PanelPackFn Pack>
void tile_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
               float* out, int64_t ldo, void* scratch) {
  const auto* xr = static_cast<const XRecord*>(x);
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

}  // namespace

void fill_tiles(Kernels& k) {
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ4_0)], x_bytes, x_from_float<8>, tile_gemm<pack_q4_0>);
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ5_0)], x_bytes, x_from_float<16>, tile_gemm<pack_q5_0>);
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ8_0)], x_bytes, x_from_float<128>, tile_gemm<pack_q8_0>);
}

}  // namespace airt::hal::avx512
