#version 450
#extension GL_GOOGLE_include_directive : require
// types: q8_0 q8_k
//
// f32 activation columns -> the blocks matvec.comp and matmul.comp read for quantized
// weights, with the CPU's roundings (hal/cpu/kernels/generic): q8_0 for Q4_0/Q5_0/Q8_0,
// q8_k for the K-quants. One invocation per block.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { float xdata[]; };
layout(std430, binding = 1) writeonly buffer Q { uint qdata[]; };
layout(push_constant) uniform P {
  uint k;         // elements per column (a multiple of the block)
  uint n;         // columns
  uint x_off;     // float offset of column 0
  uint x_stride;  // floats from one column to the next
  uint q_off;     // word offset of column 0's first block
} p;

#if TYPE_Q8_0
#define BLOCK 32u
#define WORDS 9u
#else
#define BLOCK 256u
#define WORDS 81u
#endif

void main() {
  const uint b = gl_GlobalInvocationID.x, col = gl_GlobalInvocationID.y;
  if (b >= p.k / BLOCK || col >= p.n) return;
  const uint x0 = p.x_off + col * p.x_stride + b * BLOCK;
  const uint q0 = p.q_off + (col * (p.k / BLOCK) + b) * WORDS;
#if TYPE_Q8_0
  float amax = 0.0;
  for (uint j = 0u; j < BLOCK; ++j) amax = max(amax, abs(xdata[x0 + j]));
  const float d = div_rn(amax, 127.0);
  const float id = amax != 0.0 ? div_rn(127.0, amax) : 0.0;
  for (uint w = 0u; w < 8u; ++w) {
    uint packed = 0u;
    for (uint i = 0u; i < 4u; ++i) {
      const int q = round_nearest(xdata[x0 + 4u * w + i] * id);
      packed |= (uint(q) & 0xffu) << (8u * i);
    }
    qdata[q0 + w] = packed;
  }
  qdata[q0 + 8u] = floatBitsToUint(round_to_f16(d));
#else
  // The signed extreme maps to -127 exactly; the other sign may reach 128 and is clamped.
  float amax = 0.0, mx = 0.0;
  for (uint j = 0u; j < BLOCK; ++j) {
    const float v = xdata[x0 + j];
    if (amax < abs(v)) {
      amax = abs(v);
      mx = v;
    }
  }
  const float iscale = amax != 0.0 ? div_rn(-127.0, mx) : 0.0;
  for (uint g = 0u; g < 16u; ++g) {
    int sum = 0;
    for (uint w = 0u; w < 4u; ++w) {
      uint packed = 0u;
      for (uint i = 0u; i < 4u; ++i) {
        const int q = min(round_nearest(iscale * xdata[x0 + 16u * g + 4u * w + i]), 127);
        packed |= (uint(q) & 0xffu) << (8u * i);
        sum += q;
      }
      qdata[q0 + 4u * g + w] = packed;
    }
    qdata[q0 + 65u + g] = uint(sum);
  }
  qdata[q0 + 64u] = floatBitsToUint(amax != 0.0 ? div_rn(1.0, iscale) : 0.0);
#endif
}
