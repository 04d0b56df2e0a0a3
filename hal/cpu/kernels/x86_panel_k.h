// The K-quant side of the x86 tiled products (avx512/tile_k.cpp, avx2/tile_k.cpp): the
// Q8_K activation records and the Q4_K / Q6_K panel packing, on the panel of
// x86_panel.h. Activations are quantized to Q8_K exactly as the gemm path does (the
// generic quantizer, one f32 scale per 256 elements) and laid out per 32 elements with
// the sums of each half. A panel block holds a 32-element sub-block's unsigned quants and
// two per-row f32 vectors A and B:
//   Q4_K: A = d·sc_j, B = -dmin·m_j (the block adds dx·(A·Σ q·qx + B·Σ qx));
//   Q6_K: A and B = d·sc of the first and second 16 elements (q in 0..63; the "- 32"
//         comes out through each half's activation sum).
// Internal linkage on purpose, as x86_panel.h. Uses AVX2 and F16C only.
#pragma once

#include "hal/cpu/kernels/x86_panel.h"

namespace airt::hal {
namespace {  // NOLINT(google-build-namespaces): private to each x86 ISA translation unit

constexpr size_t kKBlockBytes = 8 * 64 + 2 * 64;  // weights, then the A and B vectors
constexpr int64_t kSubBlocks = kQK_K / 32;       // panel blocks per super-block

// One 32-element activation block of kCols columns: quants, the super-block's scale, and
// the sums of the first and second 16 quants.
struct alignas(64) XRecordK {
  int8_t q[kCols][32];
  float d[kCols];
  int32_t sum[kCols][2];
};

inline size_t x_bytes_k(int64_t k, int64_t ncols) {
  return size_t((ncols + kCols - 1) / kCols) * size_t(k / 32) * sizeof(XRecordK);
}

inline void x_from_float_k(const float* src, int64_t k, void* x, int64_t col) {
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
inline void scale_min(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Rows of W from super-block s0, ns super-blocks, into the panel.
inline void pack_q4_k(const uint8_t* w, size_t stride, int rows, int64_t s0, int64_t ns, uint8_t* panel) {
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
          uint8_t* blk = panel + size_t(s * kSubBlocks + j) * kKBlockBytes;
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

inline void pack_q6_k(const uint8_t* w, size_t stride, int rows, int64_t s0, int64_t ns, uint8_t* panel) {
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
          uint8_t* blk = panel + size_t(s * kSubBlocks + j) * kKBlockBytes;
          put_row(blk, r, _mm256_or_si256(lo[k], _mm256_slli_epi16(hi, 4)));
          reinterpret_cast<float*>(blk + 512)[r] = d * float(b.scales[2 * j]);
          reinterpret_cast<float*>(blk + 576)[r] = d * float(b.scales[2 * j + 1]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace airt::hal
