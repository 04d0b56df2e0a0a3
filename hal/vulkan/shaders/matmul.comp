#version 450
#extension GL_GOOGLE_include_directive : require
// types: f32 f16 q8_0 q4_0 q5_0 q4_k q6_k
// variants: f16@f16
//
// out[col][row] = W row · X column for many columns (prefill): a workgroup computes a
// 32 x 32 tile of outputs, each invocation a 4 x 4 block of it, staging 32-element slices
// of W rows and X columns, decoded to f32, in shared memory. X is what matvec.comp reads
// (quantized by quantize.comp for quantized weights): activations are quantized as on the
// CPU, and only the summation order differs.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer W { uint wdata[]; };
layout(std430, binding = 1) readonly buffer X { uint xdata[]; };
layout(std430, binding = 2) writeonly buffer O { float odata[]; };
layout(push_constant) uniform P {
  uint k, rows, n;
  uint row_bytes;  // bytes from one W row to the next
  uint w_off;      // byte offset of row 0 (even)
  uint x_off;      // word offset of column 0
  uint x_stride;   // words from one X column to the next
  uint o_off;
  uint o_stride;   // floats from one output column to the next
} p;

#include "blocks.glsl"

const uint kTile = 32u, kSlice = 32u;
shared float ws_[kTile][kSlice + 1u];  // +1: rows fall in different banks
shared float xs_[kTile][kSlice + 1u];

void main() {
  // The tile loops assume 64 invocations: 8 x 8 of them, 4 x 4 outputs each.
  const uint t = gl_LocalInvocationIndex;
  const uint r0 = gl_WorkGroupID.x * kTile, c0 = gl_WorkGroupID.y * kTile;
  const uint tr = (t % 8u) * 4u, tc = (t / 8u) * 4u;
  float acc[4][4];
  [[unroll]] for (uint i = 0u; i < 4u; ++i)
    [[unroll]] for (uint j = 0u; j < 4u; ++j) acc[i][j] = 0.0;
  for (uint k0 = 0u; k0 < p.k; k0 += kSlice) {
    // 1024 elements of each slice, 16 per invocation.
    for (uint e = t; e < kTile * kSlice; e += 64u) {
      const uint a = e / kSlice, kk = e % kSlice;
      const bool in_k = k0 + kk < p.k;
      const uint row = r0 + a, col = c0 + a;
      ws_[a][kk] = (row < p.rows && in_k) ? dequant(p.w_off + row * p.row_bytes, k0 + kk) : 0.0;
      xs_[a][kk] = (col < p.n && in_k) ? x_elem(p.x_off + col * p.x_stride, k0 + kk) : 0.0;
    }
    barrier();
#if AIRT_FP16 && TYPE_F16
    // Runs of kRun f16 products summed in f16 (the slice holds exact f16 values, 0 past k).
    for (uint r0k = 0u; r0k < kSlice; r0k += kRun) {
      float16_t part[4][4];
      [[unroll]] for (uint i = 0u; i < 4u; ++i)
        [[unroll]] for (uint j = 0u; j < 4u; ++j) part[i][j] = float16_t(0.0);
      for (uint kk = r0k; kk < r0k + kRun; ++kk) {
        float16_t wv[4], xv[4];
        [[unroll]] for (uint i = 0u; i < 4u; ++i) {
          wv[i] = float16_t(ws_[tr + i][kk]);
          xv[i] = float16_t(xs_[tc + i][kk]);
        }
        [[unroll]] for (uint i = 0u; i < 4u; ++i)
          [[unroll]] for (uint j = 0u; j < 4u; ++j) part[i][j] += wv[i] * xv[j];
      }
      [[unroll]] for (uint i = 0u; i < 4u; ++i)
        [[unroll]] for (uint j = 0u; j < 4u; ++j) acc[i][j] += float(part[i][j]);
    }
#else
    for (uint kk = 0u; kk < kSlice; ++kk) {
      float wv[4], xv[4];
      [[unroll]] for (uint i = 0u; i < 4u; ++i) {
        wv[i] = ws_[tr + i][kk];
        xv[i] = xs_[tc + i][kk];
      }
      [[unroll]] for (uint i = 0u; i < 4u; ++i)
        [[unroll]] for (uint j = 0u; j < 4u; ++j) acc[i][j] += wv[i] * xv[j];
    }
#endif
    barrier();
  }
  [[unroll]] for (uint j = 0u; j < 4u; ++j) {
    const uint col = c0 + tc + j;
    if (col >= p.n) break;
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      const uint row = r0 + tr + i;
      if (row < p.rows) odata[p.o_off + col * p.o_stride + row] = acc[i][j];
    }
  }
}
