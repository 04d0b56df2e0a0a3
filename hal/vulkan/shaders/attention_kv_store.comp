#version 450
// Writes each row's K and V (f32, kv_dim floats) into its slot of the paged KV cache as
// f16. The cache is one buffer of 32-bit words; slot[r] is the word offset of row r's K
// row in layer 0 (its block, its position in the block), layer_words moves it to this
// layer, and V lies v_delta words further.
// One workgroup per (pair of elements group, row): x counts element pairs, y rows.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer K { vec2 k[]; };
layout(std430, binding = 1) readonly buffer V { vec2 v[]; };
layout(std430, binding = 2) readonly buffer S { uint slot[]; };
layout(std430, binding = 3) buffer C { uint cache[]; };
layout(push_constant) uniform P {
  uint half_dim;  // kv_dim / 2
  uint v_delta;   // words from a block's K rows to its V rows
  uint layer_words;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x, r = gl_WorkGroupID.y;
  if (i >= p.half_dim) return;
  const uint at = slot[r] + p.layer_words + i;
  cache[at] = packHalf2x16(k[r * p.half_dim + i]);
  cache[at + p.v_delta] = packHalf2x16(v[r * p.half_dim + i]);
}
