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
}  // namespace avx2
namespace avx512 {
// Overrides the entries of `k` (an AVX2 table) that AVX-512 BW/VL/VNNI speed up.
void fill(Kernels& k);
}  // namespace avx512
#endif

#if defined(__aarch64__)
namespace neon {
// Overrides the entries of `k` (a generic table) that Armv8-A Advanced SIMD speeds up.
void fill(Kernels& k);
}  // namespace neon
namespace dotprod {
// Overrides the entries of `k` (a NEON table) that the Armv8.2-A SDOT instruction speeds up.
void fill(Kernels& k);
}  // namespace dotprod
#endif

}  // namespace airt::hal
