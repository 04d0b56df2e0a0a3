// AVX-512 VNNI tiled matrix products for prompt processing with Q4_K and Q6_K weights:
// the activation records and panel of x86_panel_k.h, 16 rows in the lanes of a zmm, one
// vpdpbusd per 4 elements; products equal the gemm's up to the order of float additions.
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/x86_panel_k.h"
#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

constexpr size_t kBlockBytes = kKBlockBytes;

enum class Kind { kQ4_K, kQ6_K };

// 16 rows × C columns over nb blocks of a packed panel; out[c * ldo + r] = (or +=) result.
template <Kind K, int C>
void micro(int64_t nb, const uint8_t* panel, const XRecordK* x, float* out, int64_t ldo, __mmask16 mask, bool add) {
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, panel += kBlockBytes, ++x) {
    __m512i w[8];
    for (int j = 0; j < 8; ++j) w[j] = _mm512_load_si512(panel + 64 * j);
    const __m512 a = _mm512_load_ps(panel + 512), bv = _mm512_load_ps(panel + 576);
    for (int c = 0; c < C; ++c) {
      __m512 t;
      if constexpr (K == Kind::kQ4_K) {
        __m512i s = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j) s = _mm512_dpbusd_epi32(s, w[j], bcast4(x->q[c] + 4 * j));
        const __m512 mins = _mm512_mul_ps(bv, _mm512_set1_ps(float(x->sum[c][0] + x->sum[c][1])));
        t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), a, mins);
      } else {
        __m512i lo = _mm512_set1_epi32(-32 * x->sum[c][0]), hi = _mm512_set1_epi32(-32 * x->sum[c][1]);
        for (int j = 0; j < 4; ++j) lo = _mm512_dpbusd_epi32(lo, w[j], bcast4(x->q[c] + 4 * j));
        for (int j = 4; j < 8; ++j) hi = _mm512_dpbusd_epi32(hi, w[j], bcast4(x->q[c] + 4 * j));
        t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), a, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), bv));
      }
      acc[c] = _mm512_fmadd_ps(t, _mm512_set1_ps(x->d[c]), acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) store_rows(acc[c], out + c * ldo, mask, add);
}

using MicroFn = void (*)(int64_t, const uint8_t*, const XRecordK*, float*, int64_t, __mmask16, bool);
template <Kind K>
constexpr MicroFn kMicro[kCols + 1] = {nullptr,      micro<K, 1>, micro<K, 2>, micro<K, 3>, micro<K, 4>,
                                       micro<K, 5>, micro<K, 6>, micro<K, 7>, micro<K, 8>};

template <Kind K, PanelPackFn Pack>
void tile_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
               float* out, int64_t ldo, void* scratch) {
  const auto* xr = static_cast<const XRecordK*>(x);
  const int64_t nb_all = k / 32;
  drive_panels(k, r0, r1, w, w_stride, scratch, kBlockBytes, 10, kSubBlocks, Pack,
               [&](const uint8_t* panel, int64_t r, int rows, int64_t b0, int64_t nb) {
                 const __mmask16 mask = rows == kRows ? __mmask16(0xffff) : __mmask16((1u << rows) - 1u);
                 for (int64_t c0 = 0; c0 < ncols; c0 += kCols) {
                   const int nc = int(ncols - c0 < kCols ? ncols - c0 : kCols);
                   kMicro<K>[nc](nb, panel, xr + (c0 / kCols) * nb_all + b0, out + c0 * ldo + r, ldo, mask, b0 > 0);
                 }
               });
}

}  // namespace

void fill_tiles_k(Kernels& k) {
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ4_K)], x_bytes_k, x_from_float_k, tile_gemm<Kind::kQ4_K, pack_q4_k>);
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ6_K)], x_bytes_k, x_from_float_k, tile_gemm<Kind::kQ6_K, pack_q6_k>);
}

}  // namespace airt::hal::avx512
