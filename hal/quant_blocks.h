// Quantization blocks in the GGUF/ggml byte layout, shared by every backend (CPU kernels,
// Vulkan shaders mirror them). A tensor row of type T is an array of these blocks, read in
// place from the mapped file, so the layouts must match the format to the byte. Half
// precision scales are stored as f16 bit patterns (hal/fp16.h converts them).
//
// Value formulas (q = stored integer, d/m/dmin = block scales):
//   Q4_0  x = d * (q - 8)            q in [0,15]   32 per block
//   Q4_1  x = d * q + m              q in [0,15]
//   Q5_0  x = d * (q - 16)           q in [0,31]   low 4 bits in qs, 5th bit in qh
//   Q5_1  x = d * q + m              q in [0,31]
//   Q8_0  x = d * q                  q in [-127,127]
//   Q8_1  x = d * q, s = d * sum(q)  (activations for Q4_1/Q5_1 dot products)
//   K-quants: 256 per super-block in sub-blocks of 16 or 32 with 4/6/8-bit sub-scales.
#pragma once

#include <cstddef>
#include <cstdint>

namespace airt::hal {

constexpr int kQK4_0 = 32;
constexpr int kQK4_1 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK5_1 = 32;
constexpr int kQK8_0 = 32;
constexpr int kQK8_1 = 32;
constexpr int kQK_K = 256;         // elements per K-quant super-block
constexpr int kKScaleBytes = 12;   // packed 6-bit scales and mins of Q4_K / Q5_K

struct BlockQ4_0 {
  uint16_t d;                 // f16 scale
  uint8_t qs[kQK4_0 / 2];     // element j in the low nibble of qs[j], j+16 in the high one
};
static_assert(sizeof(BlockQ4_0) == 2 + 16);

struct BlockQ4_1 {
  uint16_t d;                 // f16 scale
  uint16_t m;                 // f16 minimum
  uint8_t qs[kQK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 4 + 16);

struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];              // bit j of the little-endian u32 is the 5th bit of element j
  uint8_t qs[kQK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 2 + 4 + 16);

struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 4 + 4 + 16);

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 2 + 32);

struct BlockQ8_1 {
  uint16_t d;                 // f16 scale
  uint16_t s;                 // f16 of d * sum(qs): lets Q4_1/Q5_1 dots add the min term once
  int8_t qs[kQK8_1];
};
static_assert(sizeof(BlockQ8_1) == 4 + 32);

// 16 sub-blocks of 16; each sub-block has a 4-bit scale (low nibble) and a 4-bit min (high).
// x = d * sc * q - dmin * m, q in [0,3].
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];      // 2-bit quants
  uint16_t d;                 // f16 scale of the scales
  uint16_t dmin;              // f16 scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 16 + 64 + 4);

// 16 sub-blocks of 16 with signed 6-bit scales (packed in 12 bytes, stored +32).
// x = d * (sc - 32) * (q - (hmask bit ? 0 : 4)), q 2 low bits in qs.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];   // high bit of each quant
  uint8_t qs[kQK_K / 4];      // low 2 bits
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 32 + 64 + 12 + 2);

// 8 sub-blocks of 32, each with a 6-bit scale and 6-bit min packed in `scales`.
// x = d * sc * q - dmin * m, q in [0,15].
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 4 + 12 + 128);

// As Q4_K with a 5th bit per quant in qh. x = d * sc * q - dmin * m, q in [0,31].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 4 + 12 + 32 + 128);

// 16 sub-blocks of 16 with signed 8-bit scales. x = d * sc * (q - 32), q in [0,63]:
// low 4 bits in ql, high 2 bits in qh.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 128 + 64 + 16 + 2);

// Activations for K-quant dot products: f32 scale, and the sum of each group of 16 quants
// so the K-quant min terms cost one multiply per sub-block.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 4 + 256 + 32);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block: j < 4 keep their
// low 6 bits in bytes j (scale) and j+4 (min); j >= 4 keep their low 4 bits in byte j+4
// and their top 2 bits in the spare top bits of bytes j-4 (scale) and j (min).
inline void k_scale_min(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace airt::hal
