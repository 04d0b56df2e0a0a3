#version 450
#extension GL_GOOGLE_include_directive : require
//
// x *= s in place over n floats.
#include "common.glsl"

layout(std430, binding = 0) buffer X { float xdata[]; };
layout(push_constant) uniform P { uint n; float s; uint x_off; } p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < p.n) xdata[p.x_off + i] *= p.s;
}
