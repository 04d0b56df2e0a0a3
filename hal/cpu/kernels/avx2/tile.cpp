// AVX2 tiled matrix products for prompt processing (Q4_0 and Q5_0 weights), for CPUs
// without AVX-512: the panel of x86_panel.h (16 rows × a chunk of K, rows in the 32-bit
// lanes, two ymm per group of 4 elements) reused across all activation columns.
//
// Without vpdpbusd the 4 products of a lane come from vpmaddubsw (unsigned weight ×
// signed activation, pairs summed to 16 bits) and vpmaddwd by ones (to 32 bits). The
// 16-bit sums are exact: a pair is at most 31 · 127 · 2 = 7874, and four groups are added
// before widening (31,496 < 32,767). Q8_0 weights (q + 128 up to 255) would saturate
// pairs, so Q8_0 stays on the streaming gemm here. Weights are offset to be unsigned and
// the offset comes back through the activation sums, as in the AVX-512 kernel; the
// activations are quantized by the generic Q8_0 quantizer, so results equal the generic
// gemm's up to the order of float additions.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/isa.h"
#include "hal/cpu/kernels/x86_panel.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx2 {
namespace {

constexpr size_t kBlockBytes = kLegacyBlockBytes;
constexpr int kSubCols = 4;  // columns one micro-kernel call keeps in registers

template <int Offset>
void x_from_float(const float* src, int64_t k, void* x, int64_t col) {
  const int64_t nb = k / 32;
  auto* rec = static_cast<XRecord*>(x) + (col / kCols) * nb;
  const int c = int(col % kCols);
  const TypeKernels& q8 = kernels_generic().of(DType::kQ8_0);
  for (int64_t i = 0; i < nb; ++i, src += 32) {
    BlockQ8_0 b;
    q8.from_float(src, &b, 32);
    std::memcpy(rec[i].q[c], b.qs, 32);
    rec[i].d[c] = f16(b.d);
    int s = 0;
    for (int j = 0; j < 32; ++j) s += b.qs[j];
    rec[i].c[c] = -Offset * s;
  }
}

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// 16 rows × C columns (columns c0 .. c0 + C of each record) over nb blocks of a packed
// panel; out[c * ldo + r] = (or +=) result for the first `rows` rows.
template <int C>
void micro(int64_t nb, const uint8_t* panel, const XRecord* x, int c0, float* out, int64_t ldo, int rows, bool add) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[C][2];
  for (int c = 0; c < C; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, panel += kBlockBytes, ++x) {
    const __m256 s0 = _mm256_load_ps(reinterpret_cast<const float*>(panel + 512));
    const __m256 s1 = _mm256_load_ps(reinterpret_cast<const float*>(panel + 544));
    for (int c = 0; c < C; ++c) {
      const int8_t* xq = x->q[c0 + c];
      __m256i i0 = _mm256_set1_epi32(x->c[c0 + c]), i1 = i0;
      for (int h = 0; h < 2; ++h) {  // elements 0..15, then 16..31: 16-bit sums of 4 groups
        __m256i p0 = _mm256_setzero_si256(), p1 = _mm256_setzero_si256();
        for (int j = 4 * h; j < 4 * h + 4; ++j) {
          const __m256i xb = bcast4(xq + 4 * j);
          const auto* w = reinterpret_cast<const __m256i*>(panel + 64 * j);
          p0 = _mm256_add_epi16(p0, _mm256_maddubs_epi16(_mm256_load_si256(w), xb));
          p1 = _mm256_add_epi16(p1, _mm256_maddubs_epi16(_mm256_load_si256(w + 1), xb));
        }
        i0 = _mm256_add_epi32(i0, _mm256_madd_epi16(p0, ones));
        i1 = _mm256_add_epi32(i1, _mm256_madd_epi16(p1, ones));
      }
      const __m256 dx = _mm256_set1_ps(x->d[c0 + c]);
      acc[c][0] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(i0), s0), dx, acc[c][0]);
      acc[c][1] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(i1), s1), dx, acc[c][1]);
    }
  }
  for (int c = 0; c < C; ++c) store_rows(acc[c][0], acc[c][1], out + (c0 + c) * ldo, rows, add);
}

using MicroFn = void (*)(int64_t, const uint8_t*, const XRecord*, int, float*, int64_t, int, bool);
constexpr MicroFn kMicro[kSubCols + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>};

template <PanelPackFn Pack>
void tile_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
               float* out, int64_t ldo, void* scratch) {
  const auto* xr = static_cast<const XRecord*>(x);
  const int64_t nb_all = k / 32;
  drive_panels(k, r0, r1, w, w_stride, scratch, kBlockBytes, 9, 1, Pack,
               [&](const uint8_t* panel, int64_t r, int rows, int64_t b0, int64_t nb) {
                 for (int64_t g = 0; g < ncols; g += kCols) {
                   const int in_group = int(ncols - g < kCols ? ncols - g : kCols);
                   for (int c0 = 0; c0 < in_group; c0 += kSubCols) {
                     const int nc = in_group - c0 < kSubCols ? in_group - c0 : kSubCols;
                     kMicro[nc](nb, panel, xr + (g / kCols) * nb_all + b0, c0, out + g * ldo + r, ldo, rows, b0 > 0);
                   }
                 }
               });
}

}  // namespace

void fill_tiles(Kernels& k) {
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ4_0)], x_bytes, x_from_float<8>, tile_gemm<pack_q4_0>);
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ5_0)], x_bytes, x_from_float<16>, tile_gemm<pack_q5_0>);
}

}  // namespace airt::hal::avx2
