#version 450
// y row r = x row r / sqrt(mean(x²) + eps) * w, one workgroup per row of n floats.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint n;
  float eps;
} p;

shared float red[64];

void main() {
  const uint t = gl_LocalInvocationID.x, r = gl_WorkGroupID.x, base = r * p.n;
  float s = 0.0;
  for (uint i = t; i < p.n; i += 64u) s += x[base + i] * x[base + i];
  red[t] = s;
  barrier();
  for (uint h = 32u; h > 0u; h >>= 1) {
    if (t < h) red[t] += red[t + h];
    barrier();
  }
  const float scale = 1.0 / sqrt(red[0] / float(p.n) + p.eps);
  for (uint i = t; i < p.n; i += 64u) y[base + i] = x[base + i] * scale * w[i];
}
