#version 450
#extension GL_GOOGLE_include_directive : require
// out (n x rows) = x (n x k, f32) · Wᵀ for W of any weight type (fwd_dequant.glsl): one
// workgroup per (output row, group of up to 8 columns), so each weight element is
// dequantized once per 8 columns; f32 accumulation, a shared-memory tree per column.
// Portable (no subgroups, fp16 or integer dot products): the fallback beside the per-type
// kernels.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer W { uint wq[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform P {
  uint type, k, rows, n, row_bytes;
} p;

#include "fwd_dequant.glsl"

const uint kCols = 8u;
shared float red[64 * kCols];

void main() {
  const uint t = gl_LocalInvocationID.x, row = gl_WorkGroupID.x, c0 = gl_WorkGroupID.y * kCols;
  const uint nc = min(kCols, p.n - c0);
  float acc[kCols];
  for (uint c = 0u; c < kCols; ++c) acc[c] = 0.0;
  const uint base = row * p.row_bytes;
  for (uint e = t; e < p.k; e += 64u) {
    const float w = dequant(p.type, base, e);
    for (uint c = 0u; c < nc; ++c) acc[c] += w * x[(c0 + c) * p.k + e];
  }
  for (uint c = 0u; c < kCols; ++c) red[c * 64u + t] = acc[c];
  barrier();
  for (uint s = 32u; s > 0u; s >>= 1) {
    if (t < s)
      for (uint c = 0u; c < kCols; ++c) red[c * 64u + t] += red[c * 64u + t + s];
    barrier();
  }
  if (t < nc) o[(c0 + t) * p.rows + row] = red[t * 64u];
}
