#version 450
#extension GL_GOOGLE_include_directive : require
// variants: sg
//
// In place over `rows` rows of n floats, one workgroup per row; a row whose every score
// is -inf becomes zeros (no distribution, no NaN), as on the CPU.
#include "common.glsl"

layout(std430, binding = 0) buffer X { float xdata[]; };
layout(push_constant) uniform P {
  uint n;      // elements per row
  uint x_off;  // float offset of row 0
} p;

void main() {
  const uint x0 = p.x_off + gl_WorkGroupID.x * p.n;
  float m = uintBitsToFloat(0xff800000u);  // -inf
  for (uint i = gl_LocalInvocationIndex; i < p.n; i += WG) m = max(m, xdata[x0 + i]);
  m = wg_max(m);
  if (isinf(m) && m < 0.0) {
    for (uint i = gl_LocalInvocationIndex; i < p.n; i += WG) xdata[x0 + i] = 0.0;
    return;
  }
  float acc = 0.0;
  for (uint i = gl_LocalInvocationIndex; i < p.n; i += WG) {
    const float e = exp(xdata[x0 + i] - m);
    xdata[x0 + i] = e;
    acc += e;
  }
  const float inv = div_rn(1.0, wg_sum(acc));
  for (uint i = gl_LocalInvocationIndex; i < p.n; i += WG) xdata[x0 + i] *= inv;
}
