#version 450
// out = silu(gate) * up over n floats (the feed-forward gate).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer G { float g[]; };
layout(std430, binding = 1) readonly buffer U { float u[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < p.n) o[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
}
