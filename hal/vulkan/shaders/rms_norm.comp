#version 450
#extension GL_GOOGLE_include_directive : require
// variants: sg
//
// y row r = x row r / rms(x row r) * w, one workgroup per row. x and y may be the same
// buffer: each element is read before it is written, by the same invocation.
#include "common.glsl"

layout(std430, binding = 0) buffer X { float xdata[]; };
layout(std430, binding = 1) readonly buffer Wt { float wdata[]; };
layout(std430, binding = 2) buffer Y { float ydata[]; };
layout(push_constant) uniform P {
  uint n;  // elements per row
  float eps;
  uint x_off, w_off, y_off;  // float offsets
} p;

void main() {
  const uint r = gl_WorkGroupID.x;
  const uint x0 = p.x_off + r * p.n, y0 = p.y_off + r * p.n;
  float acc = 0.0;
  for (uint i = gl_LocalInvocationIndex; i < p.n; i += WG) acc += xdata[x0 + i] * xdata[x0 + i];
  const float mean = wg_sum(acc) / float(p.n);
  const float scale = 1.0 / sqrt(mean + p.eps);
  // Normalised first, weighted after, as the CPU does (same rounding).
  for (uint i = gl_LocalInvocationIndex; i < p.n; i += WG) {
    precise float v = xdata[x0 + i] * scale;
    ydata[y0 + i] = v * wdata[p.w_off + i];
  }
}
