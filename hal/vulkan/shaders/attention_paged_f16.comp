#version 450
// Attention of one (row, query head) per workgroup over the paged f16 KV cache:
// out = softmax(scale · q·Kᵀ) · V over the positions the row sees. Keys are visited in
// chunks of 64 by block-table index (block b, slot s -> position pos0[b] + s); a key
// later than the row's position or hidden by the sequence's window scores -inf. The
// softmax is online per chunk (running max and sum), so no score array of the whole
// context is needed: shared memory stays under 2 KiB on any head size up to 256.
// The query is rounded to f16 before the dot product, as the CPU reference does.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer C { uint cache[]; };
// Per row: first entry in `blocks`, block count, position, window (0: none), sinks.
layout(std430, binding = 2) readonly buffer R { int rows[]; };
// (block id, pos0) pairs of each sequence's table, oldest first.
layout(std430, binding = 3) readonly buffer B { int blocks[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };
layout(push_constant) uniform P {
  uint head_dim, n_head, group;  // group: query heads per KV head
  uint q_dim, block;             // positions per block
  uint block_words, layer_words; // words of one block; this layer's offset inside one
  uint v_delta, k_row_words;     // K rows -> V rows; one K (or V) row, all KV heads
  float scale;
} p;

const uint kChunk = 64;
shared vec2 sq[128];      // the query, f16-rounded, as pairs (head_dim <= 256)
shared float sp[kChunk];  // this chunk's scores, then weights
shared float sred[kChunk];

float reduce_max(float x) {
  const uint t = gl_LocalInvocationID.x;
  sred[t] = x;
  barrier();
  for (uint s = kChunk / 2; s > 0; s >>= 1) {
    if (t < s) sred[t] = max(sred[t], sred[t + s]);
    barrier();
  }
  const float r = sred[0];
  barrier();
  return r;
}

float reduce_sum(float x) {
  const uint t = gl_LocalInvocationID.x;
  sred[t] = x;
  barrier();
  for (uint s = kChunk / 2; s > 0; s >>= 1) {
    if (t < s) sred[t] += sred[t + s];
    barrier();
  }
  const float r = sred[0];
  barrier();
  return r;
}

void main() {
  const uint t = gl_LocalInvocationID.x, h = gl_WorkGroupID.x, r = gl_WorkGroupID.y;
  const int b0 = rows[r * 5], nb = rows[r * 5 + 1], pos = rows[r * 5 + 2];
  const int window = rows[r * 5 + 3], sinks = rows[r * 5 + 4];
  const uint hp = p.head_dim / 2;
  const uint qoff = r * p.q_dim + h * p.head_dim;
  for (uint i = t; i < hp; i += kChunk)
    sq[i] = unpackHalf2x16(packHalf2x16(vec2(q[qoff + 2 * i], q[qoff + 2 * i + 1])));
  barrier();
  const uint kvh_words = (h / p.group) * hp;  // this KV head inside a row
  float m = -1.0 / 0.0, l = 0.0;
  vec4 acc = vec4(0.0);  // dims t, t+64, t+128, t+192
  const uint n_keys = uint(nb) * p.block;
  for (uint c0 = 0; c0 < n_keys; c0 += kChunk) {
    const uint kv = c0 + t;
    float s = -1.0 / 0.0;
    if (kv < n_keys) {
      const uint bi = kv / p.block, slot = kv % p.block;
      const int id = blocks[2 * (b0 + int(bi))], j = blocks[2 * (b0 + int(bi)) + 1] + int(slot);
      const bool vis = j <= pos && (window <= 0 || j < sinks || j > pos - window);
      if (vis) {
        const uint base = uint(id) * p.block_words + p.layer_words + slot * p.k_row_words + kvh_words;
        float d = 0.0;
        for (uint i = 0; i < hp; ++i) d += dot(unpackHalf2x16(cache[base + i]), sq[i]);
        s = d * p.scale;
      }
    }
    const float cm = reduce_max(s);
    if (cm == -1.0 / 0.0) continue;  // nothing visible in this chunk
    const float mn = max(m, cm);
    const float w = exp(s - mn);     // 0 for hidden keys
    const float corr = exp(m - mn);  // 0 on the first visible chunk
    sp[t] = w;
    l = l * corr + reduce_sum(w);
    acc *= corr;
    m = mn;
    // sp[] is visible to all after reduce_sum's barriers.
    const uint n_in = min(kChunk, n_keys - c0);
    for (uint k = 0; k < n_in; ++k) {
      const float wk = sp[k];
      if (wk == 0.0) continue;
      const uint kk = c0 + k, bi = kk / p.block, slot = kk % p.block;
      const int id = blocks[2 * (b0 + int(bi))];
      const uint vbase = uint(id) * p.block_words + p.layer_words + p.v_delta + slot * p.k_row_words + kvh_words;
      for (uint e = 0; e < 4; ++e) {
        const uint d = t + e * kChunk;
        if (d < p.head_dim) {
          const vec2 vv = unpackHalf2x16(cache[vbase + d / 2]);
          acc[e] += wk * ((d & 1u) == 0u ? vv.x : vv.y);
        }
      }
    }
    barrier();  // sp[] is rewritten by the next chunk
  }
  const float inv = l > 0.0 ? 1.0 / l : 0.0;
  for (uint e = 0; e < 4; ++e) {
    const uint d = t + e * kChunk;
    if (d < p.head_dim) o[qoff + d] = acc[e] * inv;
  }
}
