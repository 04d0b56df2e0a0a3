#version 450
#extension GL_GOOGLE_include_directive : require
// types: f16 q8_0 q4_0
//
// f32 rows -> K/V rows of the cache's type, each at the byte offset its table entry gives
// (plus layer_off), with the CPU's quantizers (hal/cpu/kernels/generic). One invocation per
// row. Rows of 18-byte blocks may share a word with a neighbour row that another
// invocation writes, so partial words are merged with atomics, whole words stored.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) buffer KV { uint kv[]; };
layout(std430, binding = 2) readonly buffer T { uint dst[]; };  // byte offset of each row
layout(push_constant) uniform P {
  uint n;           // elements per row
  uint rows;
  uint src_off;     // float offset of row 0
  uint src_stride;  // floats from one row to the next
  uint layer_off;   // bytes added to every destination
  uint dst_off;     // word offset of the table
} p;

// A little-endian byte writer: bytes collect in one word, written when the next byte
// leaves it.
uint word_ = 0xffffffffu, val_ = 0u, mask_ = 0u;

void flush_word() {
  if (mask_ == 0u) return;
  if (mask_ == 0xffffffffu) {
    kv[word_] = val_;
  } else {
    atomicAnd(kv[word_], ~mask_);
    atomicOr(kv[word_], val_);
  }
  mask_ = 0u;
  val_ = 0u;
}

void put_byte(uint o, uint b) {
  if ((o >> 2) != word_) {
    flush_word();
    word_ = o >> 2;
  }
  const uint sh = 8u * (o & 3u);
  val_ |= (b & 0xffu) << sh;
  mask_ |= 0xffu << sh;
}

void put_half(uint o, uint h) {
  put_byte(o, h);
  put_byte(o + 1u, h >> 8);
}

void main() {
  const uint r = gl_GlobalInvocationID.x;
  if (r >= p.rows) return;
  const uint x0 = p.src_off + r * p.src_stride;
  uint o = dst[p.dst_off + r] + p.layer_off;
#if TYPE_F16
  for (uint i = 0u; i < p.n; ++i) put_half(o + 2u * i, f32_to_f16_bits(src[x0 + i]));
#elif TYPE_Q8_0
  for (uint b = 0u; b < p.n / 32u; ++b, o += 34u) {
    const uint xb = x0 + 32u * b;
    float amax = 0.0;
    for (uint j = 0u; j < 32u; ++j) amax = max(amax, abs(src[xb + j]));
    const float id = amax != 0.0 ? div_rn(127.0, amax) : 0.0;
    put_half(o, f32_to_f16_bits(div_rn(amax, 127.0)));
    for (uint j = 0u; j < 32u; ++j) put_byte(o + 2u + j, uint(round_nearest(src[xb + j] * id)));
  }
#else
  // The signed extreme maps to level 0 exactly (d = max / -8); levels truncate x/d + 8.5.
  for (uint b = 0u; b < p.n / 32u; ++b, o += 18u) {
    const uint xb = x0 + 32u * b;
    float amax = 0.0, mx = 0.0;
    for (uint j = 0u; j < 32u; ++j) {
      if (amax < abs(src[xb + j])) {
        amax = abs(src[xb + j]);
        mx = src[xb + j];
      }
    }
    const float d = mx * -0.125;  // exact, unlike a division may be
    const float id = d != 0.0 ? div_rn(1.0, d) : 0.0;
    put_half(o, f32_to_f16_bits(d));
    for (uint j = 0u; j < 16u; ++j) {
      precise float vlo = src[xb + j] * id + 8.5;  // precise: no fused multiply-add,
      precise float vhi = src[xb + 16u + j] * id + 8.5;  // the CPU rounds twice
      const uint lo = uint(min(max(vlo, 0.0), 15.0));
      const uint hi = uint(min(max(vhi, 0.0), 15.0));
      put_byte(o + 2u + j, lo | (hi << 4));
    }
  }
#endif
  flush_word();
}
