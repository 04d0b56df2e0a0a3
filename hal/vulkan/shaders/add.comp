#version 450
// dst[i] = a[i] + b[i] over n floats (residual connections).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer D { float dst[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < p.n) dst[i] = a[i] + b[i];
}
