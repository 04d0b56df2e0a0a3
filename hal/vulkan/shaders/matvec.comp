#version 450
#extension GL_GOOGLE_include_directive : require
// types: f32 f16 q8_0 q4_0 q5_0 q4_k q6_k
// variants: sg dot sg+dot f16@f16 sg+f16@f16
//
// out[col][row] = W row `row` · X column `col`: one workgroup per (row, column), its
// invocations striding over the row's units, then one workgroup sum. For decode (one
// column) and short batches; many columns go to matmul.comp's tiles. X is f32 for float
// weights and quantize.comp's q8_0 / q8_k blocks for quantized ones.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer W { uint wdata[]; };
layout(std430, binding = 1) readonly buffer X { uint xdata[]; };
layout(std430, binding = 2) writeonly buffer O { float odata[]; };
layout(push_constant) uniform P {
  uint k;          // elements per row
  uint rows;       // rows of W
  uint row_bytes;  // bytes from one W row to the next
  uint w_off;      // byte offset of row 0 in wdata (even)
  uint x_off;      // word offset of column 0 in xdata
  uint x_stride;   // words from one X column to the next
  uint o_off;      // float offset of out[0][0]
  uint o_stride;   // floats from one output column to the next
} p;

#include "blocks.glsl"

void main() {
  // Rows may outnumber one grid dimension's 65535 workgroups: x and y both count rows.
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint col = gl_WorkGroupID.z;
  if (row >= p.rows) return;  // the whole workgroup leaves together
  const uint wrow = p.w_off + row * p.row_bytes;
  const uint xo = p.x_off + col * p.x_stride;
  float acc = 0.0;
#if AIRT_FP16 && TYPE_F16
  for (uint c = gl_LocalInvocationIndex; c * kRun < p.k; c += WG) acc += run_dot16(wrow, c * kRun, xo, p.k);
#else
  for (uint u = gl_LocalInvocationIndex; u < p.k / UNIT; u += WG) acc += unit_dot(wrow, u, xo);
#endif
  const float s = wg_sum(acc);
  if (gl_LocalInvocationIndex == 0u) odata[p.o_off + col * p.o_stride + row] = s;
}
