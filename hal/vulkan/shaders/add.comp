#version 450
#extension GL_GOOGLE_include_directive : require
//
// out = a + b over n floats (residual connections). out may be a or b.
#include "common.glsl"

layout(std430, binding = 0) buffer A { float a[]; };
layout(std430, binding = 1) buffer B { float b[]; };
layout(std430, binding = 2) buffer O { float odata[]; };
layout(push_constant) uniform P { uint n, a_off, b_off, o_off; } p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < p.n) odata[p.o_off + i] = a[p.a_off + i] + b[p.b_off + i];
}
