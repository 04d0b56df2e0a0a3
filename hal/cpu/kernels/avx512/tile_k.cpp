// AVX-512 VNNI tiled matrix products for prompt processing with Q4_K and Q6_K weights,
// on the panel of x86_panel.h (16 rows in the lanes, one panel block per 32 elements).
//
// Activations are quantized to Q8_K exactly as the gemm path does (the generic
// quantizer, one f32 scale per 256 elements) and laid out per 32 elements with the sums
// of each half, so the products equal the gemm's up to the order of float additions.
//
// Q4_K: a 32-element sub-block j of a super-block is d·sc_j·q - dmin·m_j with q in
//   0..15; the panel keeps q and, per row, A = d·sc_j and B = -dmin·m_j, and a block of
//   one column adds dx·(A·Σ q·qx + B·Σ qx).
// Q6_K: 16-element sub-blocks d·sc·(q - 32) with q in 0..63; a panel block spans two, so
//   it keeps A = d·sc of its first half and B = d·sc of its second, and the "- 32" comes
//   out of the integer sums through each half's activation sum: dx·(A·(Σ_lo q·qx -
//   32 Σ_lo qx) + B·(Σ_hi q·qx - 32 Σ_hi qx)).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/x86_panel.h"
#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

constexpr size_t kBlockBytes = 8 * 64 + 2 * 64;  // weights, then the A and B vectors
constexpr int64_t kSubBlocks = kQK_K / 32;       // panel blocks per super-block
constexpr int64_t kMaxChunkBlocks = int64_t(kTileScratchBytes / kBlockBytes) / kSubBlocks * kSubBlocks;

// One 32-element activation block of kCols columns: quants, the super-block's scale, and
// the sums of the first and second 16 quants.
struct alignas(64) XRecordK {
  int8_t q[kCols][32];
  float d[kCols];
  int32_t sum[kCols][2];
};

size_t x_bytes_k(int64_t k, int64_t ncols) {
  return size_t((ncols + kCols - 1) / kCols) * size_t(k / 32) * sizeof(XRecordK);
}

void x_from_float(const float* src, int64_t k, void* x, int64_t col) {
  const int64_t nb = k / 32;
  auto* rec = static_cast<XRecordK*>(x) + (col / kCols) * nb;
  const int c = int(col % kCols);
  const TypeKernels& q8k = kernels_generic().of(DType::kQ8_K);
  for (int64_t s = 0; s < k / kQK_K; ++s) {
    BlockQ8_K y;
    q8k.from_float(src + s * kQK_K, &y, kQK_K);
    for (int j = 0; j < kSubBlocks; ++j) {
      XRecordK& r = rec[s * kSubBlocks + j];
      std::memcpy(r.q[c], y.qs + 32 * j, 32);
      r.d[c] = y.d;
      r.sum[c][0] = y.bsums[2 * j];
      r.sum[c][1] = y.bsums[2 * j + 1];
    }
  }
}

// Sub-block j's 6-bit scale and min (k_scale_min in quant_blocks.h, a private copy: an
// inline function shared with generic code must not be compiled with AVX flags).
void scale_min(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Rows of W from super-block s0, ns super-blocks, into the panel.
void pack_q4_k(const uint8_t* w, size_t stride, int rows, int64_t s0, int64_t ns, uint8_t* panel) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int r = 0; r < rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ4_K*>(w + size_t(r) * stride) + s0;
    for (int64_t s = 0; s < ns; ++s) {
      const BlockQ4_K& b = row[s];
      const float d = f16(b.d), dmin = f16(b.dmin);
      for (int c = 0; c < 4; ++c) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
        for (int h = 0; h < 2; ++h) {
          const int j = 2 * c + h;
          uint8_t* blk = panel + size_t(s * kSubBlocks + j) * kBlockBytes;
          put_row(blk, r, h == 0 ? _mm256_and_si256(v, m4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
          uint8_t sc, mn;
          scale_min(j, b.scales, &sc, &mn);
          reinterpret_cast<float*>(blk + 512)[r] = d * float(sc);
          reinterpret_cast<float*>(blk + 576)[r] = -dmin * float(mn);
        }
      }
    }
  }
}

void pack_q6_k(const uint8_t* w, size_t stride, int rows, int64_t s0, int64_t ns, uint8_t* panel) {
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03);
  for (int r = 0; r < rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ6_K*>(w + size_t(r) * stride) + s0;
    for (int64_t s = 0; s < ns; ++s) {
      const BlockQ6_K& b = row[s];
      const float d = f16(b.d);
      // Elements 128h + 32k .. +32 (k = 0..3): low 4 bits from ql, high 2 from qh.
      for (int h = 0; h < 2; ++h) {
        const auto* ql = reinterpret_cast<const __m256i*>(b.ql + 64 * h);
        const __m256i l0 = _mm256_loadu_si256(ql), l1 = _mm256_loadu_si256(ql + 1);
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
        const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                               _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
        for (int k = 0; k < 4; ++k) {
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m2);
          const int j = 4 * h + k;
          uint8_t* blk = panel + size_t(s * kSubBlocks + j) * kBlockBytes;
          put_row(blk, r, _mm256_or_si256(lo[k], _mm256_slli_epi16(hi, 4)));
          reinterpret_cast<float*>(blk + 512)[r] = d * float(b.scales[2 * j]);
          reinterpret_cast<float*>(blk + 576)[r] = d * float(b.scales[2 * j + 1]);
        }
      }
    }
  }
}

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
  for (int c = 0; c < C; ++c) {
    float* o = out + c * ldo;
    __m512 v = acc[c];
    if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, o));
    _mm512_mask_storeu_ps(o, mask, v);
  }
}

using MicroFn = void (*)(int64_t, const uint8_t*, const XRecordK*, float*, int64_t, __mmask16, bool);
template <Kind K>
constexpr MicroFn kMicro[kCols + 1] = {nullptr,      micro<K, 1>, micro<K, 2>, micro<K, 3>, micro<K, 4>,
                                       micro<K, 5>, micro<K, 6>, micro<K, 7>, micro<K, 8>};

using PackFn = void (*)(const uint8_t*, size_t, int, int64_t, int64_t, uint8_t*);

template <Kind K, PackFn Pack>
void tile_gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
               float* out, int64_t ldo, void* scratch) {
  const int64_t nb_all = k / 32;
  const int64_t chunk = nb_all < kMaxChunkBlocks ? nb_all : kMaxChunkBlocks;
  auto* panel = static_cast<uint8_t*>(scratch);
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xr = static_cast<const XRecordK*>(x);
  for (int64_t r = r0; r < r1; r += kRows) {
    const int rows = int(r1 - r < kRows ? r1 - r : kRows);
    const __mmask16 mask = rows == kRows ? __mmask16(0xffff) : __mmask16((1u << rows) - 1u);
    for (int64_t b0 = 0; b0 < nb_all; b0 += chunk) {
      const int64_t nb = nb_all - b0 < chunk ? nb_all - b0 : chunk;
      Pack(wb + size_t(r) * w_stride, w_stride, rows, b0 / kSubBlocks, nb / kSubBlocks, panel);
      if (rows < kRows) clear_rows(rows, nb, panel, kBlockBytes, 10);
      for (int64_t c0 = 0; c0 < ncols; c0 += kCols) {
        const int nc = int(ncols - c0 < kCols ? ncols - c0 : kCols);
        kMicro<K>[nc](nb, panel, xr + (c0 / kCols) * nb_all + b0, out + c0 * ldo + r, ldo, mask, b0 > 0);
      }
    }
  }
}

}  // namespace

void fill_tiles_k(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_K)];
  q4.tile_x_bytes = x_bytes_k;
  q4.tile_x_from_float = x_from_float;
  q4.tile_gemm = tile_gemm<Kind::kQ4_K, pack_q4_k>;
  TypeKernels& q6 = k.types[static_cast<uint32_t>(DType::kQ6_K)];
  q6.tile_x_bytes = x_bytes_k;
  q6.tile_x_from_float = x_from_float;
  q6.tile_gemm = tile_gemm<Kind::kQ6_K, pack_q6_k>;
}

}  // namespace airt::hal::avx512
