#version 450
#extension GL_GOOGLE_include_directive : require
// out row i (k floats) = W row ids[i], dequantized (embedding lookup; with an f32 W, a
// gather of activation rows). Workgroup y = i.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer W { uint wq[]; };
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform P {
  uint type, k, row_bytes;
} p;

#include "fwd_dequant.glsl"

void main() {
  const uint e = gl_GlobalInvocationID.x, i = gl_WorkGroupID.y;
  if (e < p.k) o[i * p.k + e] = dequant(p.type, uint(ids[i]) * p.row_bytes, e);
}
