// Helpers every airt shader includes after its #version line: workgroup size, exact
// f16 conversion, round-to-nearest-even, correctly rounded division, workgroup sums and
// maxima (subgroup operations in the _sg builds, a shared-memory tree otherwise), and the
// packed 4x8-bit integer dot product of the _dot builds.
//
// Exactness matters: the conformance tests compare every shader with the CPU reference
// kernels, which quantize activations with these same roundings.
#extension GL_EXT_control_flow_attributes : enable
#if AIRT_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#if AIRT_INT_DOT
#extension GL_EXT_spirv_intrinsics : require
#endif
#if AIRT_FP16
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// The _f16 builds (shaderFloat16) multiply f16 values in f16 and add runs of kRun products
// in f16; each run's sum is added to an f32 accumulator. Short runs keep the f16 error near
// one rounding (2^-11) per product, where a long f16 sum would lose small terms to the
// large ones and could overflow at 65504.
const uint kRun = 8u;
#endif

// Invocations per workgroup (specialization constant 0; a power of two).
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

// IEEE f32 -> f16 bit pattern, round to nearest even (hal/fp16.h's fp32_to_fp16): the GPU's
// own conversion may round differently.
uint f32_to_f16_bits(float f) {
  const uint u = floatBitsToUint(f);
  const uint sign = (u >> 16) & 0x8000u;
  const uint a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u | ((a >> 13) & 0x3ffu);
  if (a >= 0x477ff000u) return sign | 0x7c00u;
  if (a >= 0x38800000u) return sign | ((a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13);
  const uint e = a >> 23;
  const uint shift = 126u - e;
  if (shift > 24u) return sign;
  const uint m = (a & 0x7fffffu) | 0x800000u;
  uint q = m >> shift;
  const uint rem = m & ((1u << shift) - 1u);
  const uint half_ = 1u << (shift - 1u);
  if (rem > half_ || (rem == half_ && (q & 1u) != 0u)) ++q;
  return sign | q;
}

float f16_bits_to_f32(uint h) { return unpackHalf2x16(h & 0xffffu).x; }
float round_to_f16(float f) { return f16_bits_to_f32(f32_to_f16_bits(f)); }

// Round to nearest, ties to even (roundEven is exact).
int round_nearest(float v) { return int(roundEven(v)); }

// a / b correctly rounded (Vulkan's division may be 2.5 ulp off): one residual step.
float div_rn(float a, float b) {
  precise float q = a / b;
  precise float r = fma(-q, b, a);
  return fma(r, 1.0 / b, q);
}

// Signed byte i (0..3) of a packed word.
int sbyte(uint w, uint i) { return bitfieldExtract(int(w), int(8u * i), 8); }

#if AIRT_INT_DOT
// OpSDot over packed 4x8-bit signed operands (SPV_KHR_integer_dot_product).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot_packed_(uint a, uint b, spirv_literal int packed_format);
int dot4x8(uint a, uint b) { return sdot_packed_(a, b, 0); }
#else
int dot4x8(uint a, uint b) {
  return sbyte(a, 0u) * sbyte(b, 0u) + sbyte(a, 1u) * sbyte(b, 1u) + sbyte(a, 2u) * sbyte(b, 2u) +
         sbyte(a, 3u) * sbyte(b, 3u);
}
#endif

shared float red_[WG];

// The sum of v over the workgroup, returned to every invocation. Every invocation must call.
float wg_sum(float v) {
  const uint t = gl_LocalInvocationIndex;
#if AIRT_SUBGROUPS
  v = subgroupAdd(v);
  if (subgroupElect()) red_[gl_SubgroupID] = v;
  barrier();
  float s = 0.0;
  for (uint i = 0u; i < gl_NumSubgroups; ++i) s += red_[i];
  barrier();
  return s;
#else
  red_[t] = v;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1) {
    if (t < s) red_[t] += red_[t + s];
    barrier();
  }
  const float r = red_[0];
  barrier();
  return r;
#endif
}

// The maximum of v over the workgroup, returned to every invocation.
float wg_max(float v) {
  const uint t = gl_LocalInvocationIndex;
#if AIRT_SUBGROUPS
  v = subgroupMax(v);
  if (subgroupElect()) red_[gl_SubgroupID] = v;
  barrier();
  float s = red_[0];
  for (uint i = 1u; i < gl_NumSubgroups; ++i) s = max(s, red_[i]);
  barrier();
  return s;
#else
  red_[t] = v;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1) {
    if (t < s) red_[t] = max(red_[t], red_[t + s]);
    barrier();
  }
  const float r = red_[0];
  barrier();
  return r;
#endif
}
