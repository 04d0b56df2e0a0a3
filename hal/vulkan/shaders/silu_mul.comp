#version 450
#extension GL_GOOGLE_include_directive : require
//
// out = silu(gate) * up = gate / (1 + exp(-gate)) * up over n floats.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer G { float gate[]; };
layout(std430, binding = 1) readonly buffer U { float up[]; };
layout(std430, binding = 2) writeonly buffer O { float odata[]; };
layout(push_constant) uniform P { uint n, g_off, u_off, o_off; } p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  const float g = gate[p.g_off + i];
  odata[p.o_off + i] = g / (1.0 + exp(-g)) * up[p.u_off + i];
}
