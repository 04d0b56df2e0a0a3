// Armv8.2-A dot-product kernels (SDOT sums four int8 products into each int32 lane in one
// instruction; Cortex-A55/A76 and later, Raspberry Pi 5, Jetson Orin): Q4_0 and Q8_0
// against Q8_0 activations, Q4_K and Q6_K against Q8_K. The bodies are arm_common.h's,
// with SDOT as the product step; everything else comes from the NEON table.
//
// This file is compiled for armv8.2-a+dotprod+fp16, so it must not define or emit anything
// the rest of the program could pick up: only internal-linkage code, no shared inline
// helpers, no function-local statics, no standard library calls.
#include <arm_neon.h>

#include "hal/cpu/kernels/isa.h"
#include "hal/cpu/kernels/neon/arm_common.h"

namespace airt::hal::dotprod {
namespace {

int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }

}  // namespace

void fill(Kernels& k) {
  k.isa = "dotprod";
  fill_int_dots<sdot>(k);
}

}  // namespace airt::hal::dotprod
