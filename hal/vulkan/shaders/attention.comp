#version 450
#extension GL_GOOGLE_include_directive : require
// variants: sg f16 sg+f16
//
// Attention over a paged KV cache: one workgroup per (query head, query row). The row's
// visible keys are a range of a key table (per key: byte offsets of its K and V rows in
// the KV buffer and their types, f16 / q8_0 / q4_0 per key, as blocks of one sequence may
// differ); a layer adds layer_off to every offset. Scores in chunks of WG keys with a
// running maximum and sum (one pass), then out = softmax(scale · q·Kᵀ) · V. Numerics as
// on the CPU: f16 keys are dotted with q rounded to f16, quantized keys decoded to f32.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Q { float qdata[]; };
layout(std430, binding = 1) readonly buffer KV { uint wdata[]; };
layout(std430, binding = 2) readonly buffer Keys { uint keys[]; };  // k_off, v_off, types
layout(std430, binding = 3) readonly buffer Rows { uint rows[]; };  // first key, keys
layout(std430, binding = 4) writeonly buffer O { float odata[]; };
layout(push_constant) uniform P {
  uint hd;         // head dim (<= 256)
  uint group;      // query heads per KV head
  uint q_off;      // float offset of row 0, head 0
  uint q_stride;   // floats from one query row to the next
  uint o_off;
  uint o_stride;
  uint layer_off;  // bytes added to every K/V offset
  uint keys_off;   // word offsets of the tables
  uint rows_off;
  float scale;
} p;

#include "words.glsl"

const uint kMaxHd = 256u;
shared float qf_[kMaxHd];  // the query row
shared float qh_[kMaxHd];  // rounded to f16
shared float pj_[WG];      // one chunk's weights

float score(uint key, uint e0) {
  const uint k = keys[p.keys_off + 3u * key] + p.layer_off;
  const uint type = keys[p.keys_off + 3u * key + 2u] & 0xffu;
  float s = 0.0;
  if (type == 1u) {
#if AIRT_FP16
    // f16 key · f16-rounded query in runs of kRun f16 products (common.glsl).
    for (uint i0 = 0u; i0 < p.hd; i0 += kRun) {
      float16_t part = float16_t(0.0);
      for (uint i = i0; i < min(i0 + kRun, p.hd); ++i)
        part += float16_t(whalf_f32(k + 2u * (e0 + i))) * float16_t(qh_[i]);
      s += float(part);
    }
#else
    for (uint i = 0u; i < p.hd; ++i) s += whalf_f32(k + 2u * (e0 + i)) * qh_[i];
#endif
  } else {
    for (uint i = 0u; i < p.hd; ++i) s += kv_elem(k, type, e0 + i) * qf_[i];
  }
  return s * p.scale;
}

void main() {
  const uint h = gl_WorkGroupID.x, r = gl_WorkGroupID.y, t = gl_LocalInvocationIndex;
  const uint e0 = (h / p.group) * p.hd;  // the KV head's elements within a K/V row
  const uint q0 = p.q_off + r * p.q_stride + h * p.hd;
  for (uint i = t; i < p.hd; i += WG) {
    qf_[i] = qdata[q0 + i];
    qh_[i] = round_to_f16(qf_[i]);
  }
  barrier();
  const uint first = rows[p.rows_off + 2u * r], n = rows[p.rows_off + 2u * r + 1u];
  float m = uintBitsToFloat(0xff800000u), l = 0.0;
  float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);  // dims t, t+WG, ...
  for (uint c0 = 0u; c0 < n; c0 += WG) {
    const uint j = c0 + t;
    const float s = j < n ? score(first + j, e0) : uintBitsToFloat(0xff800000u);
    const float nm = max(m, wg_max(s));
    const float factor = exp(m - nm);  // 0 on the first chunk (m = -inf)
    const float pe = j < n ? exp(s - nm) : 0.0;
    l = l * factor + wg_sum(pe);
    pj_[t] = pe;
    barrier();
    const uint cn = min(WG, n - c0);
    [[unroll]] for (uint a = 0u; a < 4u; ++a) {
      const uint d = t + a * WG;
      if (d >= p.hd) break;
      float v = acc[a] * factor;
#if AIRT_FP16
      // f16 values times their weight (rounded to f16) in runs of kRun f16 products; values
      // of other types (quantized blocks hold more than f16's 11 bits) stay in f32.
      float16_t part = float16_t(0.0);
      uint in_run = 0u;
#endif
      for (uint jj = 0u; jj < cn; ++jj) {
        const uint key = first + c0 + jj;
        const uint vrow = keys[p.keys_off + 3u * key + 1u] + p.layer_off;
        const uint vtype = (keys[p.keys_off + 3u * key + 2u] >> 8) & 0xffu;
#if AIRT_FP16
        if (vtype == 1u) {
          part += float16_t(pj_[jj]) * float16_t(whalf_f32(vrow + 2u * (e0 + d)));
          if (++in_run == kRun) {
            v += float(part);
            part = float16_t(0.0);
            in_run = 0u;
          }
          continue;
        }
#endif
        v += pj_[jj] * kv_elem(vrow, vtype, e0 + d);
      }
#if AIRT_FP16
      v += float(part);
#endif
      acc[a] = v;
    }
    barrier();
    m = nm;
  }
  const uint o0 = p.o_off + r * p.o_stride + h * p.hd;
  [[unroll]] for (uint a = 0u; a < 4u; ++a) {
    const uint d = t + a * WG;
    if (d < p.hd) odata[o0 + d] = acc[a] / l;
  }
}
