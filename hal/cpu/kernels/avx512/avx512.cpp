// AVX-512 (F/BW/VL/DQ + VNNI) table: F32/F16 dots on 16 lanes with masked tails here;
// the Q4_0/Q8_0 few-column products (gemv.cpp), row operations and attention (ops.cpp),
// the tiled prompt products (tile.cpp, tile_k.cpp) and the product over repacked Q4_0
// weights (packed.cpp) fill the rest. Everything else is the AVX2 table's.
#include "hal/cpu/kernels/avx512/intrinsics.h"

#include <cstdint>

#include "hal/cpu/kernels/isa.h"

namespace airt::hal::avx512 {
namespace {

#include "hal/cpu/kernels/gemm_driver.h"  // NOLINT(bugprone-suspicious-include): per-TU copies

// 16 lanes at a time; the tail (n not a multiple of 16) is masked, not scalar. The
// weight row (elements of kBytes) is prefetched 2.25 KiB ahead, as in gemv.cpp.
template <__m512 (*Load)(const void*, int64_t, __mmask16), int kBytes>
void vec_dot_float(int64_t n, float* out, const void* w, const void* x) {
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const char* pf = static_cast<const char*>(w) + i * kBytes + 2304;
    for (int o = 0; o < 32 * kBytes; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
    acc[0] = _mm512_fmadd_ps(Load(w, i, 0xffff), Load(x, i, 0xffff), acc[0]);
    acc[1] = _mm512_fmadd_ps(Load(w, i + 16, 0xffff), Load(x, i + 16, 0xffff), acc[1]);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1u);
    acc[0] = _mm512_fmadd_ps(Load(w, i, m), Load(x, i, m), acc[0]);
  }
  *out = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
}

__m512 load_f32(const void* p, int64_t i, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
}

__m512 load_f16(const void* p, int64_t i, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
}


}  // namespace

void fill(Kernels& k) {
  k.isa = "avx512";
  TypeKernels& f32 = k.types[static_cast<uint32_t>(DType::kF32)];
  f32.vec_dot = vec_dot_float<load_f32, 4>;
  f32.gemm = gemm_rows<vec_dot_float<load_f32, 4>>;
  TypeKernels& f16t = k.types[static_cast<uint32_t>(DType::kF16)];
  f16t.vec_dot = vec_dot_float<load_f16, 2>;
  f16t.gemm = gemm_rows<vec_dot_float<load_f16, 2>>;
  fill_gemv(k);
  fill_ops(k);
  fill_tiles(k);
  fill_packed(k);
  fill_tiles_k(k);
}

}  // namespace airt::hal::avx512
