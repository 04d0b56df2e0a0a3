// Entry points of the ISA variants (internal to hal/cpu). Each variant's translation units
// are compiled with that ISA's flags (cmake/airt_module.cmake), so nothing in them may be
// called before the CPU is known to support it, and they keep every helper in an anonymous
// namespace: an inline function shared with generic code could otherwise be emitted with
// AVX instructions and picked by the linker for the generic path too.
#pragma once

#include "hal/cpu/kernels.h"

namespace airt::hal {

#if defined(__x86_64__)
namespace avx2 {
// Overrides the entries of `k` (a generic table) that AVX2+FMA+F16C speed up.
void fill(Kernels& k);
// Q4_K and Q6_K dot products and gemm (quant_k.cpp); called by fill().
void fill_quant_k(Kernels& k);
// Attention over an f16 KV head (attention.cpp); called by fill().
void fill_attention(Kernels& k);
// The tiled Q4_0 / Q5_0 prompt products (tile.cpp); called by fill().
void fill_tiles(Kernels& k);
// The tiled Q4_K / Q6_K prompt products (tile_k.cpp); called by fill().
void fill_tiles_k(Kernels& k);
}  // namespace avx2
namespace avx512 {
// Overrides the entries of `k` (an AVX2 table) that AVX-512 BW/VL/VNNI speed up.
void fill(Kernels& k);
// The tiled matrix products (tile.cpp) and the few-column Q4_0/Q8_0 products (gemv.cpp);
// called by fill().
void fill_tiles(Kernels& k);
// The Q4_0 product over weights repacked in 16-row panels (packed.cpp); called by fill().
void fill_packed(Kernels& k);
// The tiled Q4_K / Q6_K products (tile_k.cpp); called by fill().
void fill_tiles_k(Kernels& k);
void fill_gemv(Kernels& k);
// Row operations and attention (ops.cpp); called by fill().
void fill_ops(Kernels& k);
}  // namespace avx512
namespace amx {
// Overrides the entries of `k` (an AVX-512 table) that AMX-INT8 speeds up: the Q4_0 and
// Q8_0 tiled products (tile.cpp), from a few activation columns on.
void fill(Kernels& k);
void fill_tiles(Kernels& k);
}  // namespace amx
#endif

#if defined(__aarch64__)
namespace neon {
// Overrides the entries of `k` (a generic table) that Armv8-A Advanced SIMD speeds up.
void fill(Kernels& k);
// Attention over an f16 KV head (attention.cpp); called by fill().
void fill_attention(Kernels& k);
}  // namespace neon
namespace dotprod {
// Overrides the entries of `k` (a NEON table) that the Armv8.2-A SDOT instruction speeds up.
void fill(Kernels& k);
}  // namespace dotprod
#endif

}  // namespace airt::hal
