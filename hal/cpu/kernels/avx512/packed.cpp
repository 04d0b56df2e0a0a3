// AVX-512 VNNI product over Q4_0 weights repacked at load in 16-row panels
// (hal/cpu/packed.h), for every column count: the panel micro-kernel of tile.cpp reading
// the weights straight from the repacked matrix instead of from a panel packed per call.
//
// A packed block is 288 bytes: 4 vectors whose lane r holds qs[4j .. 4j+3] of row r, then
// the 16 rows' f16 scales. One and, one shift and one more and per vector give the 8
// "rows in lanes" vectors of tile.cpp's panel (low nibbles = elements 4j..4j+3, vectors
// 0..3; high nibbles = 16+4j.., vectors 4..7) as unsigned q + 8; the scales are one f16
// conversion. With nothing to pack, the weights stream at memory speed for one column
// and every column added costs only its vpdpbusd.
//
// The Q8_0 activation rows are converted, per pass over K, into records of 8 columns
// laid out as tile.cpp's (every byte at a constant offset from one base register), with
// c = -8 * sum(q) taking out the weight offset. Each pass covers as many blocks as the
// records of all the call's column groups fit in the scratch (all of K for 8 columns up
// to K = 16384), and within it every panel's chunk of kChunkBlocks blocks is multiplied
// by every column group before the next chunk: the chunk (9 KiB) stays in L1, so the
// weights are read from DRAM once per pass whatever the column count.
//
// A column's sum runs in one order whatever the columns beside it: within each chunk of
// kChunkBlocks blocks (starting at fixed block indices) one float chain in block order, and the
// chunks added into out in turn (the first stores). Integer block sums are exact, so
// results differ from the generic kernels only in the order of float additions.
//
// Measured on a 2-core AVX-512 VM, TinyLlama's layer matrices x 22 layers, 2 threads,
// medians of 7: 1 column ~29 ms, as fast as gemv.cpp over the unpacked rows (~19 GB/s);
// 8 columns 1.2x and 16 columns 2.0-2.2x that (gemv / tile.cpp: 2.1-2.2x, 2.9-3.2x).
// With the weights in L2 one core reaches ~140 GMAC/s from 8 columns on.
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hal/cpu/kernels/avx512/lanes.h"
#include "hal/cpu/kernels/isa.h"
#include "hal/cpu/packed.h"
#include "hal/quant_blocks.h"

namespace airt::hal::avx512 {
namespace {

constexpr int kGroupCols = kLaneCols;  // columns of one activation record
constexpr int64_t kChunkBlocks = 32;   // blocks of one float chain: 9 KiB of a panel
constexpr size_t kBlockBytes = kPackedQ4_0BlockBytes;
static_assert(kPackRows == 16, "one zmm of int32 lanes per panel");

// Records the scratch holds: (column groups) x (blocks of one pass) <= kRecords.
constexpr int64_t kRecords = int64_t(kTileScratchBytes / sizeof(XLanes));
static_assert(kRecords >= kChunkBlocks, "one chunk of one group must fit");
// Most column groups one sweep over the weights serves; more columns take further sweeps.
constexpr int64_t kMaxGroups = kRecords / kChunkBlocks;
// How far ahead of the loads the weight stream is prefetched, as in gemv.cpp (there
// measured: 12 GB/s without, 21 GB/s at 2 KiB to 2.5 KiB ahead, on 2 threads).
constexpr int64_t kPrefetchBytes = 2304;

// One packed block (16 rows) against the C columns of record x, added into acc: the
// nibbles split into lanes.h's 8 weight vectors, the 16 scales from f16.
template <int C>
inline __attribute__((always_inline)) void block(const uint8_t* wp, const XLanes* x, __m512* acc) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512i w[8];
  for (int j = 0; j < 4; ++j) {
    const __m512i v = _mm512_loadu_si512(wp + 64 * j);
    w[j] = _mm512_and_si512(v, m4);
    w[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
  }
  const __m512 s = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 256)));
  lanes_block<C>(w, s, x, 0, acc);
}

// 16 rows x C columns over nb (<= kChunkBlocks) blocks of one panel from wp, records x:
// out[c * ldo + 0..15] = (or +=) the chunk's sums. Alongside block b, for b = pf_first,
// pf_first + pf_every, ..., the 288 bytes at pf + b * 288 are prefetched.
template <int C>
void chunk(int64_t nb, const uint8_t* wp, const XLanes* x, float* out, int64_t ldo, bool add, const uint8_t* pf,
           int64_t pf_first, int64_t pf_every) {
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  int64_t next_pf = pf_first;
  for (int64_t b = 0; b < nb; ++b, wp += kBlockBytes) {
    if (b == next_pf) {
      const char* p = reinterpret_cast<const char*>(pf) + b * int64_t(kBlockBytes);
      for (int o = 0; o < int(kBlockBytes); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
      next_pf += pf_every;
    }
    block<C>(wp, x + b, acc);
  }
  for (int c = 0; c < C; ++c) {
    __m512 v = acc[c];
    if (add) v = _mm512_add_ps(v, _mm512_loadu_ps(out + c * ldo));
    _mm512_storeu_ps(out + c * ldo, v);
  }
}

using ChunkFn = void (*)(int64_t, const uint8_t*, const XLanes*, float*, int64_t, bool, const uint8_t*, int64_t,
                         int64_t);
constexpr ChunkFn kChunk[kGroupCols + 1] = {nullptr,  chunk<1>, chunk<2>, chunk<3>, chunk<4>,
                                            chunk<5>, chunk<6>, chunk<7>, chunk<8>};

// Blocks [b0, b0 + nb) of Q8_0 column `col` (slot c of its group's records rec[0..nb)).
void put_column(const BlockQ8_0* xc, int64_t b0, int64_t nb, int c, XLanes* rec) {
  const __m256i flip = _mm256_set1_epi8(char(0x80));
  for (int64_t i = 0; i < nb; ++i) {
    const BlockQ8_0& blk = xc[b0 + i];
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs));
    for (int m = 0; m < 4; ++m) std::memcpy(rec[i].q[m][c], blk.qs + 8 * m, 8);
    // sum(q) = sum(q + 128) - 32 * 128, the unsigned sum by one sad per 8 bytes.
    const __m256i s = _mm256_sad_epu8(_mm256_xor_si256(v, flip), _mm256_setzero_si256());
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    const int sum = int(_mm_cvtsi128_si64(_mm_add_epi64(h, _mm_unpackhi_epi64(h, h)))) - 32 * 128;
    rec[i].d[c] = _cvtsh_ss(blk.d);
    rec[i].c[c] = -8 * sum;
  }
}

void packed_gemm_q4_0(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, const void* x,
                      size_t x_stride, float* out, int64_t ldo, void* scratch) {
  const int64_t nb_all = k / 32;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  auto* rec = static_cast<XLanes*>(scratch);
  const int64_t p0 = r0 / kPackRows, p1 = r1 / kPackRows;
  const size_t panel_bytes = size_t(nb_all) * kBlockBytes;
  for (int64_t s0 = 0; s0 < ncols; s0 += kMaxGroups * kGroupCols) {
    const int64_t ns = ncols - s0 < kMaxGroups * kGroupCols ? ncols - s0 : kMaxGroups * kGroupCols;
    const int64_t ng = (ns + kGroupCols - 1) / kGroupCols;
    int64_t pass = kRecords / ng / kChunkBlocks * kChunkBlocks;
    if (pass > nb_all) pass = nb_all;
    for (int64_t pb0 = 0; pb0 < nb_all; pb0 += pass) {
      const int64_t pn = nb_all - pb0 < pass ? nb_all - pb0 : pass;
      for (int64_t c = 0; c < ns; ++c) {
        const auto* xc = reinterpret_cast<const BlockQ8_0*>(xb + size_t(s0 + c) * x_stride);
        put_column(xc, pb0, pn, int(c % kGroupCols), rec + (c / kGroupCols) * pn);
      }
      for (int64_t p = p0; p < p1; ++p) {
        const uint8_t* wp = wb + size_t(p) * panel_bytes;
        float* op = out + s0 * ldo + p * kPackRows;
        for (int64_t b0 = pb0; b0 < pb0 + pn; b0 += kChunkBlocks) {
          const int64_t nb = pb0 + pn - b0 < kChunkBlocks ? pb0 + pn - b0 : kChunkBlocks;
          const uint8_t* wc = wp + size_t(b0) * kBlockBytes;
          // One group streams the weights: prefetch a fixed distance ahead, which runs on
          // into the next chunk and, where a pass is all of K, the next panel. With more
          // groups, the next chunk in visiting order is prefetched while they reuse this one
          // from L1, spread over all of them (group g takes blocks g, g + ng, ...) so that
          // the memory stream runs the whole time rather than in bursts.
          const uint8_t* pf;
          if (ng == 1)
            pf = wc + kPrefetchBytes;
          else if (b0 + nb < pb0 + pn)
            pf = wc + size_t(nb) * kBlockBytes;
          else
            pf = wp + panel_bytes + size_t(pb0) * kBlockBytes;
          for (int64_t g = 0; g < ng; ++g) {
            const int nc = int(ns - g * kGroupCols < kGroupCols ? ns - g * kGroupCols : kGroupCols);
            kChunk[nc](nb, wc, rec + g * pn + (b0 - pb0), op + g * kGroupCols * ldo, ldo, b0 > 0, pf, g, ng);
          }
        }
      }
    }
  }
}

}  // namespace

void fill_packed(Kernels& k) {
  TypeKernels& q4 = k.types[static_cast<uint32_t>(DType::kQ4_0)];
  q4.packed_gemm = packed_gemm_q4_0;
  q4.packed_pays = true;
}

}  // namespace airt::hal::avx512
