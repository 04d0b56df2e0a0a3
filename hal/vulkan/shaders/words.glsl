// Bytes, halves and words at byte offsets of a buffer of 32-bit words called `wdata`
// (declared by the including shader): quant blocks of 18, 22, 34 or 210 bytes are only
// 2-byte aligned, so a word at an offset of 2 mod 4 is assembled from two halves.

uint wbyte(uint o) { return (wdata[o >> 2] >> (8u * (o & 3u))) & 0xffu; }
uint whalf(uint o) { return (wdata[o >> 2] >> (8u * (o & 2u))) & 0xffffu; }  // o even
uint wword(uint o) {  // o even
  if ((o & 3u) == 0u) return wdata[o >> 2];
  return whalf(o) | (whalf(o + 2u) << 16);
}
float whalf_f32(uint o) { return f16_bits_to_f32(whalf(o)); }
int wsbyte(uint o) { return bitfieldExtract(int(wbyte(o)), 0, 8); }

// Element e of a K or V row at byte offset `row` whose type is `type` (hal::DType
// numbering: 1 f16, 8 q8_0, 2 q4_0), as the CPU decodes it.
float kv_elem(uint row, uint type, uint e) {
  if (type == 1u) return whalf_f32(row + 2u * e);
  const uint j = e % 32u;
  if (type == 8u) {
    const uint off = row + (e / 32u) * 34u;
    return float(wsbyte(off + 2u + j)) * whalf_f32(off);
  }
  const uint off = row + (e / 32u) * 18u;
  const uint b = wbyte(off + 2u + (j % 16u));
  return float(int(j < 16u ? (b & 15u) : (b >> 4)) - 8) * whalf_f32(off);
}
