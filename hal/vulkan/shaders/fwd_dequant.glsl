// Element e of a weight row of any type airt's forward pass takes, read byte by byte from a
// buffer of 32-bit words (`wq`, declared by the includer) so that rows of any block size
// may start at any byte. Type numbers are hal::DType's. The layouts are hal/quant_blocks.h.
// Portable on purpose: no 8- or 16-bit storage, no fp16 arithmetic.
const uint T_F32 = 0u, T_F16 = 1u, T_Q4_0 = 2u, T_Q5_0 = 6u, T_Q8_0 = 8u, T_Q4_K = 12u, T_Q6_K = 14u;

uint wbyte(uint off) { return (wq[off >> 2] >> ((off & 3u) * 8u)) & 0xffu; }
float wf16(uint off) { return unpackHalf2x16(wbyte(off) | (wbyte(off + 1u) << 8)).x; }
int wsbyte(uint off) { return int(wbyte(off) << 24) >> 24; }

// Q4_K's 6-bit scale (m = 0) or minimum (m = 1) number j of the 12 packed bytes at s.
uint k4_scale(uint s, uint j, uint m) {
  if (j < 4u) return wbyte(s + j + 4u * m) & 63u;
  const uint lo = m == 0u ? (wbyte(s + j + 4u) & 0xfu) : (wbyte(s + j + 4u) >> 4);
  return lo | ((wbyte(s + j - 4u * (1u - m)) >> 6) << 4);
}

float dequant(uint type, uint row, uint e) {
  if (type == T_F32) return uintBitsToFloat(wq[(row >> 2) + e]);
  if (type == T_F16) return wf16(row + 2u * e);
  if (type == T_Q8_0) {
    const uint b = row + (e >> 5) * 34u;
    return wf16(b) * float(wsbyte(b + 2u + (e & 31u)));
  }
  if (type == T_Q4_0) {
    const uint b = row + (e >> 5) * 18u, i = e & 31u;
    const uint q = wbyte(b + 2u + (i & 15u));
    return wf16(b) * (float(i < 16u ? (q & 0xfu) : (q >> 4)) - 8.0);
  }
  if (type == T_Q5_0) {
    const uint b = row + (e >> 5) * 22u, i = e & 31u;
    const uint qh = wbyte(b + 2u) | (wbyte(b + 3u) << 8) | (wbyte(b + 4u) << 16) | (wbyte(b + 5u) << 24);
    const uint q = wbyte(b + 6u + (i & 15u));
    const uint lo = i < 16u ? (q & 0xfu) : (q >> 4);
    return wf16(b) * (float(lo | (((qh >> i) & 1u) << 4)) - 16.0);
  }
  if (type == T_Q4_K) {
    const uint b = row + (e >> 8) * 144u, i = e & 255u;
    const uint j = i >> 6, w = i & 63u, l = w & 31u, hi = w >> 5, is = 2u * j + hi;
    const uint q = wbyte(b + 16u + 32u * j + l);
    const float nib = float(hi == 0u ? (q & 0xfu) : (q >> 4));
    return wf16(b) * float(k4_scale(b + 4u, is, 0u)) * nib - wf16(b + 2u) * float(k4_scale(b + 4u, is, 1u));
  }
  if (type == T_Q6_K) {
    const uint b = row + (e >> 8) * 210u, i = e & 255u;
    const uint half_ = i >> 7, r = i & 127u, quarter = r >> 5, l = r & 31u;
    const uint ql = wbyte(b + 64u * half_ + l + ((quarter & 1u) * 32u));
    const uint lo = quarter < 2u ? (ql & 0xfu) : (ql >> 4);
    const uint qh = (wbyte(b + 128u + 32u * half_ + l) >> (2u * quarter)) & 3u;
    const int q = int(lo | (qh << 4)) - 32;
    const int sc = wsbyte(b + 192u + 8u * half_ + (l >> 4) + 2u * quarter);
    return wf16(b + 208u) * float(sc) * float(q);
  }
  return 0.0;
}
