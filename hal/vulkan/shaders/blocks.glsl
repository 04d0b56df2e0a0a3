// Weight rows of one type (TYPE_F32, TYPE_F16, TYPE_Q8_0, TYPE_Q4_0, TYPE_Q5_0, TYPE_Q4_K,
// TYPE_Q6_K), read in place in their GGUF byte layout (hal/quant_blocks.h) from a
// buffer of words called `wdata`, which the including shader declares. Rows start at
// even byte offsets; blocks of 18, 22, 34 and 210 bytes are only 2-byte aligned, so
// words are assembled from halves where needed.
//
// Per type:
//   UNIT                                   elements one unit_dot() covers
//   X_BLOCK, X_WORDS                       the activation format: elements and words per block
//   float unit_dot(row, u, xo)             weights row (byte offset) · activations (word
//                                          offset xo), over unit u
//   float dequant(row, i)                  element i of the row
//   float x_elem(xo, i)                    element i of the activation column at xo
// A shader without activations (get_rows) defines BLOCKS_DEQUANT_ONLY and gets dequant only.
// Activations for the quantized types are made by quantize.comp: q8_0 blocks are 8 words
// of int8 levels then the scale (f32 holding the f16-rounded value); q8_k blocks are 64
// words of levels, the f32 scale and 16 sums of 16 levels.

#include "words.glsl"

// Sum of the 4 signed bytes of a word.
int bytes_sum(uint w) { return dot4x8(w, 0x01010101u); }

#if TYPE_F32
#define UNIT 1u
#define X_BLOCK 1u
#define X_WORDS 1u
float dequant(uint row, uint i) { return uintBitsToFloat(wdata[(row >> 2) + i]); }
#if !BLOCKS_DEQUANT_ONLY
float x_elem(uint xo, uint i) { return uintBitsToFloat(xdata[xo + i]); }
float unit_dot(uint row, uint u, uint xo) { return dequant(row, u) * x_elem(xo, u); }
#endif

#elif TYPE_F16
#define UNIT 1u
#define X_BLOCK 1u
#define X_WORDS 1u
float dequant(uint row, uint i) { return whalf_f32(row + 2u * i); }
// The CPU converts activations to f16 before an f16 dot product: so does this.
#if !BLOCKS_DEQUANT_ONLY
float x_elem(uint xo, uint i) { return round_to_f16(uintBitsToFloat(xdata[xo + i])); }
float unit_dot(uint row, uint u, uint xo) { return dequant(row, u) * x_elem(xo, u); }
#if AIRT_FP16
// Elements e0 .. e0+kRun-1 (up to k) of the row · X in f16. Both operands hold f16 values
// exactly, so the conversions are exact and only the products and sums round.
float run_dot16(uint row, uint e0, uint xo, uint k) {
  float16_t s = float16_t(0.0);
  const uint e1 = min(e0 + kRun, k);
  for (uint e = e0; e < e1; ++e) s += float16_t(dequant(row, e)) * float16_t(x_elem(xo, e));
  return float(s);
}
#endif
#endif

#elif TYPE_Q8_0 || TYPE_Q4_0 || TYPE_Q5_0
#define UNIT 32u
#define X_BLOCK 32u
#define X_WORDS 9u
#if TYPE_Q8_0
#define W_BLOCK_BYTES 34u
#elif TYPE_Q4_0
#define W_BLOCK_BYTES 18u
#else
#define W_BLOCK_BYTES 22u
#endif

#if TYPE_Q5_0
// Bits 0..3 of n moved to bit 4 of bytes 0..3.
uint spread4(uint n) { return ((n & 1u) | ((n & 2u) << 7) | ((n & 4u) << 14) | ((n & 8u) << 21)) << 4; }
#endif

#if !BLOCKS_DEQUANT_ONLY
float unit_dot(uint row, uint u, uint xo) {
  const uint off = row + u * W_BLOCK_BYTES;
  const uint xb = xo + u * X_WORDS;
  int sumi = 0;
#if TYPE_Q8_0
  [[unroll]] for (uint j = 0u; j < 8u; ++j) sumi += dot4x8(wword(off + 2u + 4u * j), xdata[xb + j]);
#elif TYPE_Q4_0
  int xsum = 0;
  [[unroll]] for (uint j = 0u; j < 4u; ++j) {
    const uint q = wword(off + 2u + 4u * j);
    const uint lo = xdata[xb + j], hi = xdata[xb + 4u + j];
    sumi += dot4x8(q & 0x0f0f0f0fu, lo) + dot4x8((q >> 4) & 0x0f0f0f0fu, hi);
    xsum += bytes_sum(lo) + bytes_sum(hi);
  }
  sumi -= 8 * xsum;
#else
  const uint qh = wword(off + 2u);
  int xsum = 0;
  [[unroll]] for (uint j = 0u; j < 4u; ++j) {
    const uint q = wword(off + 6u + 4u * j);
    const uint lo = xdata[xb + j], hi = xdata[xb + 4u + j];
    sumi += dot4x8((q & 0x0f0f0f0fu) | spread4((qh >> (4u * j)) & 15u), lo);
    sumi += dot4x8(((q >> 4) & 0x0f0f0f0fu) | spread4((qh >> (16u + 4u * j)) & 15u), hi);
    xsum += bytes_sum(lo) + bytes_sum(hi);
  }
  sumi -= 16 * xsum;
#endif
  precise float r = whalf_f32(off) * uintBitsToFloat(xdata[xb + 8u]);
  return r * float(sumi);
}
#endif

float dequant(uint row, uint i) {
  const uint off = row + (i / 32u) * W_BLOCK_BYTES, j = i % 32u;
  const float d = whalf_f32(off);
#if TYPE_Q8_0
  return float(bitfieldExtract(int(wbyte(off + 2u + j)), 0, 8)) * d;
#elif TYPE_Q4_0
  const uint b = wbyte(off + 2u + (j % 16u));
  return float(int(j < 16u ? (b & 15u) : (b >> 4)) - 8) * d;
#else
  const uint b = wbyte(off + 6u + (j % 16u));
  const uint h = (wword(off + 2u) >> j) & 1u;
  return float(int((j < 16u ? (b & 15u) : (b >> 4)) | (h << 4)) - 16) * d;
#endif
}

#elif TYPE_Q4_K
#define UNIT 32u
#define X_BLOCK 256u
#define X_WORDS 81u
// The 6-bit scale and min of sub-block s (hal/quant_blocks.h k_scale_min).
void scale_min(uint off, uint s, out uint sc, out uint m) {
  const uint q = off + 4u;
  if (s < 4u) {
    sc = wbyte(q + s) & 63u;
    m = wbyte(q + s + 4u) & 63u;
  } else {
    sc = (wbyte(q + s + 4u) & 15u) | ((wbyte(q + s - 4u) >> 6) << 4);
    m = (wbyte(q + s + 4u) >> 4) | ((wbyte(q + s) >> 6) << 4);
  }
}

#if !BLOCKS_DEQUANT_ONLY
float unit_dot(uint row, uint u, uint xo) {
  const uint b = u / 8u, s = u % 8u;
  const uint off = row + b * 144u, xb = xo + b * X_WORDS;
  const uint qs = off + 16u + 32u * (s / 2u);
  int dq = 0;
  [[unroll]] for (uint j = 0u; j < 8u; ++j) {
    const uint q = wword(qs + 4u * j);
    dq += dot4x8((s & 1u) != 0u ? (q >> 4) & 0x0f0f0f0fu : q & 0x0f0f0f0fu, xdata[xb + 8u * s + j]);
  }
  uint sc, m;
  scale_min(off, s, sc, m);
  const int ysum = int(xdata[xb + 65u + 2u * s]) + int(xdata[xb + 66u + 2u * s]);
  const float yd = uintBitsToFloat(xdata[xb + 64u]);
  precise float a = whalf_f32(off) * yd;
  precise float c = whalf_f32(off + 2u) * yd;
  precise float r = a * float(int(sc) * dq) - c * float(int(m) * ysum);
  return r;
}
#endif

float dequant(uint row, uint i) {
  const uint off = row + (i / 256u) * 144u, e = i % 256u, s = e / 32u;
  const uint byte_ = wbyte(off + 16u + 32u * (e / 64u) + e % 32u);
  const uint q = (e % 64u) < 32u ? (byte_ & 15u) : (byte_ >> 4);
  uint sc, m;
  scale_min(off, s, sc, m);
  precise float r = whalf_f32(off) * float(sc) * float(q) - whalf_f32(off + 2u) * float(m);
  return r;
}

#elif TYPE_Q6_K
#define UNIT 16u
#define X_BLOCK 256u
#define X_WORDS 81u
#if !BLOCKS_DEQUANT_ONLY
float unit_dot(uint row, uint u, uint xo) {
  const uint b = u / 16u, s = u % 16u;
  const uint off = row + b * 210u, xb = xo + b * X_WORDS;
  const uint half_ = s / 8u, k = (s % 8u) / 2u, r0 = 16u * (s % 2u);
  const uint ql = off + 64u * half_ + 32u * (k & 1u) + r0;
  const uint qh = off + 128u + 32u * half_ + r0;
  int dq = 0, xsum = 0;
  [[unroll]] for (uint j = 0u; j < 4u; ++j) {
    const uint l = wword(ql + 4u * j), h = wword(qh + 4u * j);
    const uint lo = k < 2u ? l & 0x0f0f0f0fu : (l >> 4) & 0x0f0f0f0fu;
    const uint q = lo | (((h >> (2u * k)) & 0x03030303u) << 4);
    const uint x = xdata[xb + 4u * s + j];
    dq += dot4x8(q, x);
    xsum += bytes_sum(x);
  }
  dq -= 32 * xsum;
  const int sc = bitfieldExtract(int(wbyte(off + 192u + s)), 0, 8);
  precise float a = whalf_f32(off + 208u) * uintBitsToFloat(xdata[xb + 64u]);
  precise float r = a * float(sc * dq);
  return r;
}
#endif

float dequant(uint row, uint i) {
  const uint off = row + (i / 256u) * 210u, e = i % 256u;
  const uint half_ = e / 128u, k = (e % 128u) / 32u, r = e % 32u;
  const uint l = wbyte(off + 64u * half_ + 32u * (k & 1u) + r);
  const uint lo = k < 2u ? (l & 15u) : (l >> 4);
  const uint hi = (wbyte(off + 128u + 32u * half_ + r) >> (2u * k)) & 3u;
  const int sc = bitfieldExtract(int(wbyte(off + 192u + e / 16u)), 0, 8);
  precise float v = whalf_f32(off + 208u) * float(sc) * float(int(lo | (hi << 4)) - 32);
  return v;
}

#else
#error "blocks.glsl: define one TYPE_*"
#endif

#if !BLOCKS_DEQUANT_ONLY && !(TYPE_F32 || TYPE_F16)
// Element i of an activation column in quantize.comp's blocks, as a float.
float x_elem(uint xo, uint i) {
  const uint b = xo + (i / X_BLOCK) * X_WORDS, j = i % X_BLOCK;
  return float(sbyte(xdata[b + j / 4u], j % 4u)) * uintBitsToFloat(xdata[b + X_BLOCK / 4u]);
}
#endif
