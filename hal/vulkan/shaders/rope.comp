#version 450
#extension GL_GOOGLE_include_directive : require
//
// Rotary position embedding in place over n_heads head vectors: pair i of a head turns
// by the angle whose cosine and sine are cs[2i], cs[2i+1] of its position's table row.
// The host fills the table (hal/vulkan/ops.h rope_table) with the CPU's own angles, so
// results match it to the bit; one row serves every head of a token in every layer.
// neox rotates (x[i], x[i + n_rot/2]), otherwise adjacent pairs (x[2i], x[2i+1]); dims
// from n_rot to head_dim pass through. One invocation per pair.
#include "common.glsl"

layout(std430, binding = 0) buffer X { float xdata[]; };
layout(std430, binding = 1) readonly buffer CS { float cs[]; };
layout(push_constant) uniform P {
  uint n_heads;
  uint head_dim;
  uint n_rot;
  uint neox;           // 0 or 1
  uint heads_per_pos;  // consecutive heads that share one table row
  uint x_off;          // float offset of head 0
  uint cs_off;         // float offset of table row 0 (rows of n_rot floats)
} p;

void main() {
  const uint half_ = p.n_rot / 2u;
  const uint id = gl_GlobalInvocationID.x;
  if (id >= p.n_heads * half_) return;
  const uint h = id / half_, i = id % half_;
  const uint c = p.cs_off + (h / p.heads_per_pos) * p.n_rot + 2u * i;
  const float co = cs[c], si = cs[c + 1u];
  const uint base = p.x_off + h * p.head_dim;
  const uint a = base + (p.neox != 0u ? i : 2u * i);
  const uint b = base + (p.neox != 0u ? i + half_ : 2u * i + 1u);
  const float x0 = xdata[a], x1 = xdata[b];
  precise float r0 = x0 * co - x1 * si;
  precise float r1 = x0 * si + x1 * co;
  xdata[a] = r0;
  xdata[b] = r1;
}
