// AVX2 tiled matrix products for prompt processing with Q4_K and Q6_K weights: the
// activation records and panel of x86_panel_k.h, 16 rows in the lanes of two ymm.
//
// Products come from vpmaddubsw (unsigned quant × signed activation, pairs to 16 bits)
// and vpmaddwd by ones. The 16-bit sums are exact: a Q4_K pair is at most 15·127·2 =
// 3810, so all eight groups of 4 elements are added before widening (30,480); a Q6_K pair
// is at most 63·127·2 = 16,002, so its groups are widened two at a time. Results equal
// the gemm's up to the order of float additions.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/isa.h"
#include "hal/cpu/kernels/x86_panel_k.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx2 {
namespace {

constexpr size_t kBlockBytes = kKBlockBytes;
constexpr int kSubCols = 4;  // columns one micro-kernel call keeps in registers

enum class Kind { kQ4_K, kQ6_K };

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Sums over groups [j0, j1) of 4 elements, rows 0..7 in *lo and 8..15 in *hi (32-bit),
// widened from 16 bits every `widen` groups.
inline void dot_groups(const uint8_t* panel, const int8_t* xq, int j0, int j1, int widen, __m256i* lo, __m256i* hi) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int j = j0; j < j1; j += widen) {
    __m256i p0 = _mm256_setzero_si256(), p1 = _mm256_setzero_si256();
    for (int g = j; g < j + widen; ++g) {
      const __m256i xb = bcast4(xq + 4 * g);
      const auto* w = reinterpret_cast<const __m256i*>(panel + 64 * g);
      p0 = _mm256_add_epi16(p0, _mm256_maddubs_epi16(_mm256_load_si256(w), xb));
      p1 = _mm256_add_epi16(p1, _mm256_maddubs_epi16(_mm256_load_si256(w + 1), xb));
    }
    *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(p0, ones));
    *hi = _mm256_add_epi32(*hi, _mm256_madd_epi16(p1, ones));
  }
}

// 16 rows × C columns (columns c0 .. c0 + C of each record) over nb blocks of a packed
// panel; out[c * ldo + r] = (or +=) result for the first `rows` rows.
template <Kind K, int C>
void micro(int64_t nb, const uint8_t* panel, const XRecordK* x, int c0, float* out, int64_t ldo, int rows, bool add) {
  __m256 acc[C][2];
  for (int c = 0; c < C; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, panel += kBlockBytes, ++x) {
    const auto* sv = reinterpret_cast<const float*>(panel + 512);
    const __m256 a0 = _mm256_load_ps(sv), a1 = _mm256_load_ps(sv + 8);
    const __m256 b0 = _mm256_load_ps(sv + 16), b1 = _mm256_load_ps(sv + 24);
    for (int c = 0; c < C; ++c) {
      const int cc = c0 + c;
      __m256 t0, t1;
      if constexpr (K == Kind::kQ4_K) {
        __m256i lo = _mm256_setzero_si256(), hi = lo;
        dot_groups(panel, x->q[cc], 0, 8, 8, &lo, &hi);
        const __m256 s = _mm256_set1_ps(float(x->sum[cc][0] + x->sum[cc][1]));
        t0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), a0, _mm256_mul_ps(b0, s));
        t1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), a1, _mm256_mul_ps(b1, s));
      } else {
        // First half (groups 0..3) against A, second (4..7) against B, each less 32 Σ qx.
        __m256i flo = _mm256_set1_epi32(-32 * x->sum[cc][0]), fhi = flo;
        __m256i slo = _mm256_set1_epi32(-32 * x->sum[cc][1]), shi = slo;
        dot_groups(panel, x->q[cc], 0, 4, 2, &flo, &fhi);
        dot_groups(panel, x->q[cc], 4, 8, 2, &slo, &shi);
        t0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(flo), a0, _mm256_mul_ps(_mm256_cvtepi32_ps(slo), b0));
        t1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(fhi), a1, _mm256_mul_ps(_mm256_cvtepi32_ps(shi), b1));
      }
      const __m256 dx = _mm256_set1_ps(x->d[cc]);
      acc[c][0] = _mm256_fmadd_ps(t0, dx, acc[c][0]);
      acc[c][1] = _mm256_fmadd_ps(t1, dx, acc[c][1]);
    }
  }
  for (int c = 0; c < C; ++c) store_rows(acc[c][0], acc[c][1], out + (c0 + c) * ldo, rows, add);
}

using MicroFn = void (*)(int64_t, const uint8_t*, const XRecordK*, int, float*, int64_t, int, bool);
template <Kind K>
constexpr MicroFn kMicro[kSubCols + 1] = {nullptr, micro<K, 1>, micro<K, 2>, micro<K, 3>, micro<K, 4>};

template <Kind K, PanelPackFn Pack>
void tile_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
               float* out, int64_t ldo, void* scratch) {
  const auto* xr = static_cast<const XRecordK*>(x);
  const int64_t nb_all = k / 32;
  drive_panels(k, r0, r1, w, w_stride, scratch, kBlockBytes, 10, kSubBlocks, Pack,
               [&](const uint8_t* panel, int64_t r, int rows, int64_t b0, int64_t nb) {
                 for (int64_t g = 0; g < ncols; g += kCols) {
                   const int in_group = int(ncols - g < kCols ? ncols - g : kCols);
                   for (int c0 = 0; c0 < in_group; c0 += kSubCols) {
                     const int nc = in_group - c0 < kSubCols ? in_group - c0 : kSubCols;
                     kMicro<K>[nc](nb, panel, xr + (g / kCols) * nb_all + b0, c0, out + g * ldo + r, ldo, rows, b0 > 0);
                   }
                 }
               });
}

}  // namespace

void fill_tiles_k(Kernels& k) {
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ4_K)], x_bytes_k, x_from_float_k, tile_gemm<Kind::kQ4_K, pack_q4_k>);
  set_tiles(k.types[static_cast<uint32_t>(DType::kQ6_K)], x_bytes_k, x_from_float_k, tile_gemm<Kind::kQ6_K, pack_q6_k>);
}

}  // namespace airt::hal::avx2
