// The reference product over Q4_0 weights in 16-row panels (hal/cpu/packed.h): each
// output sums its blocks in order exactly as vec_dot_q4_0_q8_0 does for the unpacked row.
#include <cstring>

#include "hal/cpu/kernels/generic/generic.h"
#include "hal/cpu/packed.h"
#include "hal/fp16.h"
#include "hal/quant_blocks.h"

namespace airt::hal::generic {

void packed_gemm_q4_0(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, const void* x,
                      size_t x_stride, float* out, int64_t ldo, void* scratch) {
  (void)scratch;
  const int64_t nb = k / 32;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t p = r / kPackRows, lane = r % kPackRows;
    for (int64_t c = 0; c < ncols; ++c) {
      const auto* xr = reinterpret_cast<const BlockQ8_0*>(xb + size_t(c) * x_stride);
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = wb + size_t(p * nb + b) * kPackedQ4_0BlockBytes;
        uint8_t qs[16];
        for (int j = 0; j < 4; ++j) std::memcpy(qs + 4 * j, blk + 64 * j + 4 * lane, 4);
        uint16_t d;
        std::memcpy(&d, blk + 256 + 2 * lane, 2);
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
          sumi += ((qs[j] & 0xf) - 8) * xr[b].qs[j];
          sumi += ((qs[j] >> 4) - 8) * xr[b].qs[j + 16];
        }
        sum += fp16_to_fp32(d) * fp16_to_fp32(xr[b].d) * static_cast<float>(sumi);
      }
      out[c * ldo + r] = sum;
    }
  }
}

}  // namespace airt::hal::generic
