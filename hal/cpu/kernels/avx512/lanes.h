// The "rows in lanes" micro-kernel of the AVX-512 VNNI Q4_0 / Q5_0 / Q8_0 products: one
// 32-block of 16 weight rows (8 vectors, lane r = 4 unsigned weight bytes of row r, and
// the rows' scales) against up to 8 activation columns of one XLanes record. tile.cpp
// feeds it panels packed per call, packed.cpp the weights repacked at load. Internal
// linkage on purpose: include it inside no namespace, after intrinsics.h, only from
// translation units compiled with the AVX-512 flags (see isa.h).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace airt::hal::avx512 {
namespace {  // NOLINT(google-build-namespaces): private to each AVX-512 translation unit

constexpr int kLaneCols = 8;  // activation columns of one record

// The activations of kLaneCols columns for one 32-block. q holds 8-byte pieces,
// column-interleaved, so the micro-kernel reaches column c's 4 bytes j at a constant offset.
struct alignas(64) XLanes {
  int8_t q[4][kLaneCols][8];  // q[m][c] = elements 8m..8m+7 of column c
  float d[kLaneCols];         // scale of column c
  int32_t c[kLaneCols];       // -offset * sum(q) of column c: takes the weights' offset out
};
static_assert(sizeof(XLanes) == 320);

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

// One block, weights w (vectors 0..3: elements 4j..4j+3 of each row, 4..7: 16+4j..) with
// row scales s, against columns c0..c0+C-1 of record x, added into acc (one float chain
// per column). vpdpbusd's latency is covered by independent chains: with C >= 6 columns
// each column's 8 products are one chain; with fewer, two (even and odd groups of 4 bytes).
template <int C>
inline __attribute__((always_inline)) void lanes_block(const __m512i (&w)[8], __m512 s, const XLanes* x, int c0,
                                                       __m512* acc) {
  constexpr bool kTwo = C < 6;
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

}  // namespace
}  // namespace airt::hal::avx512
