#version 450
#extension GL_GOOGLE_include_directive : require
//
// dst = src over n 16-byte words, a grid-stride loop: the device's memory bandwidth as a
// shader sees it (bandwidth.h), the ceiling of a decode step that streams the weights.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer S { uvec4 src[]; };
layout(std430, binding = 1) writeonly buffer D { uvec4 dst[]; };
layout(push_constant) uniform P { uint n, stride; } p;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < p.n; i += p.stride) dst[i] = src[i];
}
