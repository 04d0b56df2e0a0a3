#version 450
// Adds a bias vector (qwen2's Q/K/V biases, before RoPE) to every one of `rows` rows of
// n floats, in place.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
  const uint i = gl_GlobalInvocationID.x, r = gl_WorkGroupID.y;
  if (i < p.n) x[r * p.n + i] += b[i];
}
