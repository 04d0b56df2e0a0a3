// AVX-512 VNNI products of Q4_0 / Q8_0 weights with a few activation columns: the
// generation path, which must stream the weights at memory speed with little work per
// block. Several blocks share one 512-bit vector: 4 Q4_0 blocks (72 bytes) or 2 Q8_0 blocks
// (68 bytes) are read with one full and one masked load, their quants gathered into
// place by one word permute and their f16 scales by another. Everything that depends only
// on the activations is prepared once per call (per chunk of K) in the vectors' layout:
// the activation bytes in matching order, the per-block scale spread over the block's
// lanes, and the correction for the weight offset.
//
// vpdpbusd takes unsigned × signed bytes, so weights enter unsigned: Q4_0 nibbles as
// stored (q + 8), Q8_0 as q + 128; the offset times the block's activation sum is
// subtracted through the prepared correction. Integer sums are exact; results differ
// from the generic kernels only in the order of float operations.
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/isa.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

// Columns one pass over the weights serves, so up to 8 columns read each weight once; the
// per-column work (two dpbusd and one fma a group) adds about a tenth of a 1-column pass
// per column (measured on the AMX Xeon, Q4_0 5632 x 2048).
constexpr int kMaxCols = 8;
constexpr int64_t kChunkGroups = 64;  // groups of blocks prepared at a time (16 KiB of stack a column)
// How far ahead of the loads the weight stream is prefetched. With this much work per
// byte the out-of-order window covers too few cache misses to keep one core's share of
// DRAM bandwidth in flight, and the hardware prefetcher alone does not close the gap:
// measured on a 2-core AVX-512 VM streaming a 1.1 GB Q8_0 matrix with 2 threads, 12 GB/s
// without, 21 GB/s at 2 KiB to 2.5 KiB ahead (a plain read loop reaches 25 GB/s). Rows
// of a thread's range are contiguous, so prefetching past a row's end reads the next.
constexpr int kPrefetchBytes = 2304;

// One group of prepared activations: what one 512-bit step consumes.
struct alignas(64) XGroup {
  int8_t lo[64];    // Q4_0: elements 0..15 of each of 4 blocks; Q8_0: 2 whole blocks
  int8_t hi[64];    // Q4_0: elements 16..31 of each of 4 blocks; Q8_0: unused
  int32_t corr[16]; // -offset * sum(block), in the block's first lane, 0 elsewhere
  float d[16];      // the block's activation scale in each of its lanes
};

float f16(uint16_t h) { return _cvtsh_ss(h); }

// Layout of one weight format: blocks per group, bytes per block, and how to turn a
// group's bytes into unsigned quants plus its 16 lanes of scales.
struct Q4_0Fmt {
  static constexpr int kBlocks = 4;
  static constexpr int kBytes = sizeof(BlockQ4_0);
  static constexpr int kOffset = 8;

  static void prepare(const BlockQ8_0* x, int nb, XGroup& g) {
    std::memset(&g, 0, sizeof g);
    for (int i = 0; i < nb; ++i) {
      std::memcpy(g.lo + 16 * i, x[i].qs, 16);
      std::memcpy(g.hi + 16 * i, x[i].qs + 16, 16);
      int s = 0;
      for (int j = 0; j < 32; ++j) s += x[i].qs[j];
      g.corr[4 * i] = -kOffset * s;
      for (int j = 0; j < 4; ++j) g.d[4 * i + j] = f16(x[i].d);
    }
  }
};

struct Q8_0Fmt {
  static constexpr int kBlocks = 2;
  static constexpr int kBytes = sizeof(BlockQ8_0);
  static constexpr int kOffset = 128;

  static void prepare(const BlockQ8_0* x, int nb, XGroup& g) {
    std::memset(&g, 0, sizeof g);
    for (int i = 0; i < nb; ++i) {
      std::memcpy(g.lo + 32 * i, x[i].qs, 32);
      int s = 0;
      for (int j = 0; j < 32; ++j) s += x[i].qs[j];
      g.corr[8 * i] = -kOffset * s;
      for (int j = 0; j < 8; ++j) g.d[8 * i + j] = f16(x[i].d);
    }
  }
};

// Word indices into the two loaded vectors (words 0..31 of the first, 32..63 of the second).
__m512i q4_quant_index() {
  alignas(64) int16_t idx[32];
  for (int b = 0; b < 4; ++b)
    for (int j = 0; j < 8; ++j) idx[8 * b + j] = int16_t(9 * b + 1 + j);
  return _mm512_load_si512(idx);
}
__m512i q4_scale_index() {
  alignas(64) int16_t idx[32] = {};
  for (int l = 0; l < 16; ++l) idx[l] = int16_t(9 * (l / 4));
  return _mm512_load_si512(idx);
}
__m512i q8_quant_index() {
  alignas(64) int16_t idx[32];
  for (int b = 0; b < 2; ++b)
    for (int j = 0; j < 16; ++j) idx[16 * b + j] = int16_t(17 * b + 1 + j);
  return _mm512_load_si512(idx);
}
__m512i q8_scale_index() {
  alignas(64) int16_t idx[32] = {};
  for (int l = 0; l < 16; ++l) idx[l] = int16_t(17 * (l / 8));
  return _mm512_load_si512(idx);
}

// Rows [r0, r1) against nc (<= kMaxCols) columns over groups [g0, g0 + ng) of the row;
// `partial` holds the nc × rows running sums (added to at each chunk).
struct Consts {
  __m512i qidx, sidx, m4, flip;
};

// One group of blocks of one weight row against NC columns, added into acc.
template <class Fmt, int NC>
inline __attribute__((always_inline)) void step(const uint8_t* p, int nb, const Consts& k, const XGroup* const* xg,
                                                int64_t g, __m512* acc) {
  constexpr int B = Fmt::kBlocks;
  __m512i q, a;
  if (B == 4 && nb == 4) {
    // Four 16-byte inserts: cheaper than a two-source word permute on port 5.
    a = _mm512_loadu_si512(p);
    q = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
    q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 20)), 1);
    q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 38)), 2);
    q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 56)), 3);
  } else {
    // Bytes past the group are never touched: the second load is masked to what is left.
    const int tail = nb * Fmt::kBytes - 64;
    __m512i b;
    if (tail >= 0) {
      a = _mm512_loadu_si512(p);
      b = _mm512_maskz_loadu_epi8(tail >= 64 ? ~__mmask64(0) : (__mmask64(1) << tail) - 1, p + 64);
    } else {
      a = _mm512_maskz_loadu_epi8((__mmask64(1) << (nb * Fmt::kBytes)) - 1, p);
      b = _mm512_setzero_si512();
    }
    q = _mm512_permutex2var_epi16(a, k.qidx, b);
  }
  const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(k.sidx, a)));
  __m512i lo, hi;
  if constexpr (B == 4) {
    lo = _mm512_and_si512(q, k.m4);
    hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), k.m4);
  } else {
    lo = _mm512_xor_si512(q, k.flip);
  }
  for (int c = 0; c < NC; ++c) {
    const XGroup& x = xg[c][g];
    __m512i s = _mm512_load_si512(x.corr);
    s = _mm512_dpbusd_epi32(s, lo, _mm512_load_si512(x.lo));
    if constexpr (B == 4) s = _mm512_dpbusd_epi32(s, hi, _mm512_load_si512(x.hi));
    const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(s), dw);
    acc[c] = _mm512_fmadd_ps(t, _mm512_load_ps(x.d), acc[c]);
  }
}

// Rows [r0, r1) against NC (<= kMaxCols) columns over groups [g0, g0 + ng) of the row;
// out[c * ldo + r] is set, or added to for chunks after the first.
template <class Fmt, int NC>
void rows_chunk(const uint8_t* w, size_t w_stride, int64_t r0, int64_t r1, int64_t g0, int64_t ng, int last_nb,
                const XGroup* const* xg, float* out, int64_t ldo, bool add) {
  constexpr int B = Fmt::kBlocks;
  constexpr int kGroupBytes = B * Fmt::kBytes;
  const Consts k{B == 4 ? q4_quant_index() : q8_quant_index(), B == 4 ? q4_scale_index() : q8_scale_index(),
                 _mm512_set1_epi8(0x0f), _mm512_set1_epi8(char(0x80))};
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = w + size_t(r) * w_stride + size_t(g0) * kGroupBytes;
    // Two accumulators per column, one per alternate group, halve the fma dependency chain.
    __m512 acc0[NC], acc1[NC];
    for (int c = 0; c < NC; ++c) acc0[c] = acc1[c] = _mm512_setzero_ps();
    int64_t g = 0;
    for (; g + 2 < ng; g += 2, p += 2 * kGroupBytes) {
      const char* pf = reinterpret_cast<const char*>(p) + kPrefetchBytes;
      for (int o = 0; o < 2 * kGroupBytes; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
      step<Fmt, NC>(p, B, k, xg, g, acc0);
      step<Fmt, NC>(p + kGroupBytes, B, k, xg, g + 1, acc1);
    }
    for (; g < ng; ++g, p += kGroupBytes) step<Fmt, NC>(p, g + 1 < ng ? B : last_nb, k, xg, g, acc0);
    for (int c = 0; c < NC; ++c) {
      const float v = _mm512_reduce_add_ps(_mm512_add_ps(acc0[c], acc1[c]));
      float& o = out[c * ldo + r];
      o = add ? o + v : v;
    }
  }
}

template <class Fmt>
void gemm(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride, const void* x,
          size_t x_stride, float* out, int64_t ldo) {
  constexpr int B = Fmt::kBlocks;
  const int64_t nb_all = k / 32;
  const int64_t ng_all = (nb_all + B - 1) / B;
  XGroup xg[kMaxCols][kChunkGroups];
  const auto* xb = static_cast<const uint8_t*>(x);
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t c0 = 0; c0 < ncols; c0 += kMaxCols) {
    const int nc = int(ncols - c0 < kMaxCols ? ncols - c0 : kMaxCols);
    for (int64_t g0 = 0; g0 < ng_all; g0 += kChunkGroups) {
      const int64_t ng = ng_all - g0 < kChunkGroups ? ng_all - g0 : kChunkGroups;
      const int64_t left = nb_all - (g0 + ng - 1) * B;  // blocks in the chunk's last group
      const int last_nb = int(left < B ? left : B);
      const XGroup* cols[kMaxCols];
      for (int c = 0; c < nc; ++c) {
        const auto* xc = reinterpret_cast<const BlockQ8_0*>(xb + size_t(c0 + c) * x_stride);
        for (int64_t g = 0; g < ng; ++g) {
          const int64_t b = (g0 + g) * B;
          Fmt::prepare(xc + b, int(nb_all - b < B ? nb_all - b : B), xg[c][g]);
        }
        cols[c] = xg[c];
      }
      float* o = out + c0 * ldo;
      const bool add = g0 > 0;
      switch (nc) {
        case 1: rows_chunk<Fmt, 1>(wb, w_stride, r0, r1, g0, ng, last_nb, cols, o, ldo, add); break;
        case 2: rows_chunk<Fmt, 2>(wb, w_stride, r0, r1, g0, ng, last_nb, cols, o, ldo, add); break;
        case 3: rows_chunk<Fmt, 3>(wb, w_stride, r0, r1, g0, ng, last_nb, cols, o, ldo, add); break;
        case 4: rows_chunk<Fmt, 4>(wb, w_stride, r0, r1, g0, ng, last_nb, cols, o, ldo, add); break;
        case 5: rows_chunk<Fmt, 5>(wb, w_stride, r0, r1, g0, ng, last_nb, cols, o, ldo, add); break;
        case 6: rows_chunk<Fmt, 6>(wb, w_stride, r0, r1, g0, ng, last_nb, cols, o, ldo, add); break;
        case 7: rows_chunk<Fmt, 7>(wb, w_stride, r0, r1, g0, ng, last_nb, cols, o, ldo, add); break;
        default: rows_chunk<Fmt, 8>(wb, w_stride, r0, r1, g0, ng, last_nb, cols, o, ldo, add); break;
      }
    }
  }
}

// One row, one column: the gemm itself, so that gemm and vec_dot agree to the bit.
template <class Fmt>
void vec_dot(int64_t n, float* out, const void* w, const void* x) {
  gemm<Fmt>(n, 0, 1, 1, w, 0, x, 0, out, 1);
}

}  // namespace

void fill_gemv(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  q4.vec_dot = vec_dot<Q4_0Fmt>;
  q4.gemm = gemm<Q4_0Fmt>;
  TypeKernels& q8 = k.types[static_cast<uint32_t>(DType::kQ8_0)];
  q8.vec_dot = vec_dot<Q8_0Fmt>;
  q8.gemm = gemm<Q8_0Fmt>;
}

}  // namespace airt::hal::avx512
