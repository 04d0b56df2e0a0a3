#version 450
// Rotary position embedding in place over head vectors of head_dim floats: head h belongs
// to row h / heads_per_row, whose cos/sin per pair the host computed (cs, n_rot floats a
// row, as the CPU kernel computes its angles: a GPU's sin/cos is too coarse for angles of
// thousands of radians). The first n_rot dims rotate in pairs (2i, 2i+1), or
// (i, i + n_rot/2) in NeoX mode. Workgroup y = head, x = pair.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer CS { float cs[]; };
layout(push_constant) uniform P {
  uint head_dim, n_rot, neox, heads_per_row;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x, h = gl_WorkGroupID.y;
  const uint half_ = p.n_rot / 2u;
  if (i >= half_) return;
  const uint row = h / p.heads_per_row;
  const float c = cs[row * p.n_rot + 2u * i], s = cs[row * p.n_rot + 2u * i + 1u];
  const uint o = h * p.head_dim;
  const uint a = p.neox != 0u ? o + i : o + 2u * i;
  const uint b = p.neox != 0u ? o + i + half_ : o + 2u * i + 1u;
  const float x0 = x[a], x1 = x[b];
  x[a] = x0 * c - x1 * s;
  x[b] = x0 * s + x1 * c;
}
