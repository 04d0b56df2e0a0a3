#version 450
#extension GL_GOOGLE_include_directive : require
// types: f32 f16 q8_0 q4_0 q5_0 q4_k q6_k
//
// Embedding lookup: out row i (k floats) = W row ids[i], dequantized. One workgroup per
// output row.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer W { uint wdata[]; };
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { float odata[]; };
layout(push_constant) uniform P {
  uint k;          // elements per row
  uint row_bytes;  // bytes from one W row to the next
  uint w_off;      // byte offset of row 0 in wdata (even)
  uint ids_off;    // int offset of ids[0]
  uint o_off;      // float offset of out row 0
} p;

#define BLOCKS_DEQUANT_ONLY 1
#include "blocks.glsl"

void main() {
  const uint i = gl_WorkGroupID.x;
  const uint row = p.w_off + uint(ids[p.ids_off + i]) * p.row_bytes;
  for (uint e = gl_LocalInvocationIndex; e < p.k; e += WG) odata[p.o_off + i * p.k + e] = dequant(row, e);
}
