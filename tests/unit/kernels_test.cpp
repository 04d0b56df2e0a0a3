// The reference CPU kernels: quant block layouts (known values), quantize/dequantize round
// trips, dot products against the float dot of their dequantized operands, gemm against
// vec_dot loops, and the activation quantizers' exact rounding rules.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "hal/cpu/kernels.h"
#include "hal/dtype.h"
#include "hal/fp16.h"
#include "hal/quant_blocks.h"
#include "tests/unit/hal_test_util.h"

namespace airt::hal {
namespace {

using test::random_weights;
using test::rows_as_float;

const Kernels& K() { return kernels_generic(); }

// ---------------------------------------------------------------------------------------
// Layout: sizes and hand-built blocks decoded to known values

TEST(QuantBlocks, SizesMatchDTypeTable) {
  EXPECT_EQ(sizeof(BlockQ4_0), dtype_info(DType::kQ4_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_1), dtype_info(DType::kQ4_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_0), dtype_info(DType::kQ5_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_1), dtype_info(DType::kQ5_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_0), dtype_info(DType::kQ8_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_1), dtype_info(DType::kQ8_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ2_K), dtype_info(DType::kQ2_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ3_K), dtype_info(DType::kQ3_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_K), dtype_info(DType::kQ4_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_K), dtype_info(DType::kQ5_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ6_K), dtype_info(DType::kQ6_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_K), dtype_info(DType::kQ8_K).block_bytes);
  EXPECT_EQ(offsetof(BlockQ6_K, d), 208u);
  EXPECT_EQ(offsetof(BlockQ3_K, d), 108u);
  EXPECT_EQ(offsetof(BlockQ2_K, d), 80u);
}

std::vector<float> decode(DType t, const void* block, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  K().of(t).to_float(block, out.data(), n);
  return out;
}

TEST(Dequantize, Q4_0KnownBlock) {
  BlockQ4_0 b{};
  b.d = fp32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = decode(DType::kQ4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f) << j;          // low nibbles: first half
    EXPECT_EQ(y[j + 16], (7 - j) * 0.5f) << j;     // high nibbles: second half
  }
}

TEST(Dequantize, Q4_1KnownBlock) {
  BlockQ4_1 b{};
  b.d = fp32_to_fp16(0.25f);
  b.m = fp32_to_fp16(-1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (3 << 4));
  const auto y = decode(DType::kQ4_1, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 0.25f - 1.0f);
    EXPECT_EQ(y[j + 16], 3 * 0.25f - 1.0f);
  }
}

TEST(Dequantize, Q5_0AndQ5_1KnownBlock) {
  BlockQ5_0 b{};
  b.d = fp32_to_fp16(1.0f);
  // Fifth bits: elements 0, 3 and 17 (bit j of the little-endian u32 is element j).
  b.qh[0] = 0x09;
  b.qh[2] = 0x02;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = decode(DType::kQ5_0, &b, 32);
  EXPECT_EQ(y[0], 16 + 0 - 16);
  EXPECT_EQ(y[1], 1 - 16);
  EXPECT_EQ(y[3], 16 + 3 - 16);
  EXPECT_EQ(y[16], 15 - 16);
  EXPECT_EQ(y[17], 16 + 14 - 16);
  EXPECT_EQ(y[31], 0 - 16);

  BlockQ5_1 c{};
  c.d = fp32_to_fp16(2.0f);
  c.m = fp32_to_fp16(0.5f);
  c.qh[3] = 0x80;  // element 31
  for (int j = 0; j < 16; ++j) c.qs[j] = 0xff;
  y = decode(DType::kQ5_1, &c, 32);
  EXPECT_EQ(y[0], 15 * 2.0f + 0.5f);
  EXPECT_EQ(y[30], 15 * 2.0f + 0.5f);
  EXPECT_EQ(y[31], 31 * 2.0f + 0.5f);
}

TEST(Dequantize, Q8_0KnownBlock) {
  BlockQ8_0 b{};
  b.d = fp32_to_fp16(0.125f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  const auto y = decode(DType::kQ8_0, &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.125f);
}

TEST(Dequantize, Q4_KKnownBlock) {
  BlockQ4_K b{};
  b.d = fp32_to_fp16(0.5f);
  b.dmin = fp32_to_fp16(0.25f);
  // Sub-blocks 0..3: scale in bytes 0..3, min in bytes 4..7 (low 6 bits). Sub-blocks 4..7:
  // low nibbles in bytes 8..11, top two bits in bits 6-7 of bytes 0..3 (scale) / 4..7 (min).
  const uint8_t scale[8] = {1, 2, 3, 63, 17, 33, 49, 60};
  const uint8_t mins[8] = {4, 5, 0, 62, 18, 34, 50, 15};
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(scale[j] | ((scale[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(mins[j] | ((mins[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((scale[j + 4] & 0xf) | ((mins[j + 4] & 0xf) << 4));
  }
  // Byte qs[32*c + r] holds element 64c + r (low nibble) and 64c + 32 + r (high nibble).
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>((i % 16) | ((15 - i % 16) << 4));
  const auto y = decode(DType::kQ4_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int c = e / 64, r = e % 32, s = e / 32;
    const uint8_t byte = b.qs[32 * c + r];
    const int q = (e % 64) < 32 ? (byte & 0xf) : (byte >> 4);
    ASSERT_EQ(y[e], 0.5f * scale[s] * q - 0.25f * mins[s]) << e;
  }
  uint8_t sc, m;
  k_scale_min(7, b.scales, &sc, &m);
  EXPECT_EQ(sc, 60);
  EXPECT_EQ(m, 15);
}

TEST(Dequantize, Q5_KKnownBlock) {
  BlockQ5_K b{};
  b.d = fp32_to_fp16(1.0f);
  b.dmin = fp32_to_fp16(0.0f);
  for (int j = 0; j < 4; ++j) b.scales[j] = 1;                     // sub-blocks 0..3: scale 1
  for (int j = 8; j < 12; ++j) b.scales[j] = 1;                    // sub-blocks 4..7: scale 1
  // qh[r] bit 2c is the 5th bit of element 64c + r, bit 2c+1 that of 64c + 32 + r.
  b.qh[5] = 0x01 | 0x08;   // elements 5 and 64+32+5
  b.qs[5] = 0x21;          // element 5: 1 (+16), element 37: 2
  b.qs[32 + 5] = 0x43;     // element 69: 3, element 101: 4 (+16)
  const auto y = decode(DType::kQ5_K, &b, 256);
  EXPECT_EQ(y[5], 17.0f);
  EXPECT_EQ(y[37], 2.0f);
  EXPECT_EQ(y[69], 3.0f);
  EXPECT_EQ(y[101], 20.0f);
  EXPECT_EQ(y[0], 0.0f);
}

TEST(Dequantize, Q6_KKnownBlock) {
  BlockQ6_K b{};
  b.d = fp32_to_fp16(0.5f);
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>(s - 8);
  // Element 128h + 32k + r: 4 low bits from ql[64h + 32(k&1) + r] (low nibble for k < 2,
  // high for k >= 2), 2 high bits from qh[32h + r] bits 2k..2k+1; value (q - 32).
  for (int i = 0; i < 128; ++i) b.ql[i] = static_cast<uint8_t>(i * 7);
  for (int i = 0; i < 64; ++i) b.qh[i] = static_cast<uint8_t>(i * 13 + 5);
  const auto y = decode(DType::kQ6_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = (e % 128) / 32, r = e % 32;
    const uint8_t l = b.ql[64 * h + 32 * (k & 1) + r];
    const int lo = k < 2 ? (l & 0xf) : (l >> 4);
    const int hi = (b.qh[32 * h + r] >> (2 * k)) & 3;
    ASSERT_EQ(y[e], 0.5f * (e / 16 - 8) * ((lo | (hi << 4)) - 32)) << e;
  }
  // One element by hand: e = 0 -> ql[0] = 0, qh[0] = 5 (bits 0-1 = 1): q = 16 - 32.
  EXPECT_EQ(y[0], 0.5f * -8 * -16);
}

TEST(Dequantize, Q2_KAndQ3_KKnownBlock) {
  BlockQ2_K b{};
  b.d = fp32_to_fp16(1.0f);
  b.dmin = fp32_to_fp16(0.5f);
  b.scales[0] = 0x32;   // sub-block 0: scale 2, min 3
  b.scales[2] = 0x15;   // sub-block 2 (elements 32..47): scale 5, min 1
  b.qs[0] = 0x1b;       // element 0: 3, element 32: 2, element 64: 1, element 96: 0
  auto y = decode(DType::kQ2_K, &b, 256);
  EXPECT_EQ(y[0], 2 * 3 - 1.5f);
  EXPECT_EQ(y[32], 5 * 2 - 0.5f);
  EXPECT_EQ(y[1], 2 * 0 - 1.5f);

  BlockQ3_K c{};
  c.d = fp32_to_fp16(1.0f);
  // Sub-block 0: low nibble of byte 0, top bits 0-1 of byte 8; sub-block 9: high nibble
  // of byte 1, top bits 2-3 of byte 9 (9/4 = 2 -> shift 4). Stored + 32.
  c.scales[0] = 0x03;
  c.scales[8] = 0x02;           // sub-block 0: 3 | 2<<4 = 35 -> 3
  c.scales[1] = 0x70;
  c.scales[9] = 0x10;           // sub-block 9: 7 | 1<<4 = 23 -> -9
  c.qs[0] = 0x02;               // element 0: low bits 2
  c.hmask[0] = 0x01;            // element 0 high bit set: no -4
  c.qs[32 + 16] = 0x01;         // element 128 + 16 = 144, sub-block 9: low bits 1
  auto z = decode(DType::kQ3_K, &c, 256);
  EXPECT_EQ(z[0], 3 * 2);
  EXPECT_EQ(z[144], -9 * (1 - 4));
  EXPECT_EQ(z[1], 3 * (0 - 4));
}

// ---------------------------------------------------------------------------------------
// Round trips and activation quantizers

struct RoundTrip {
  DType type;
  double max_nmse;  // of Gaussian data; a few times what each format achieves
};

class QuantRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(QuantRoundTrip, ErrorWithinFormatBound) {
  const RoundTrip p = GetParam();
  const TypeKernels& tk = K().of(p.type);
  ASSERT_NE(tk.from_float, nullptr);
  ASSERT_NE(tk.to_float, nullptr);
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int64_t n : {32, 256, 512 * 3, 4096 + 256, 4096 + 32}) {
    if (n % dtype_info(p.type).block_size) continue;
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = g(rng) * 0.05f;
    std::vector<uint8_t> q(dtype_row_bytes(p.type, n));
    std::vector<float> y(static_cast<size_t>(n));
    tk.from_float(x.data(), q.data(), n);
    tk.to_float(q.data(), y.data(), n);
    double e = 0, r = 0;
    for (int64_t i = 0; i < n; ++i) {
      e += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
      r += double(x[i]) * x[i];
    }
    EXPECT_LE(e / r, p.max_nmse) << dtype_name(p.type) << " n=" << n;
    if (p.max_nmse == 0) {
      EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * 4), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, QuantRoundTrip,
    ::testing::Values(RoundTrip{DType::kF32, 0.0}, RoundTrip{DType::kF16, 7e-8},
                      RoundTrip{DType::kBF16, 6e-6}, RoundTrip{DType::kQ8_0, 4.5e-5},
                      RoundTrip{DType::kQ8_1, 4.5e-5}, RoundTrip{DType::kQ8_K, 7.5e-5},
                      RoundTrip{DType::kQ5_0, 2.6e-3}, RoundTrip{DType::kQ5_1, 2.1e-3},
                      RoundTrip{DType::kQ4_0, 1.1e-2}, RoundTrip{DType::kQ4_1, 9e-3},
                      RoundTrip{DType::kQ4_K, 8e-3}, RoundTrip{DType::kQ5_K, 2e-3},
                      RoundTrip{DType::kQ6_K, 5.2e-4}),
    [](const auto& info) { return std::string(dtype_name(info.param.type)); });

// Every element of a Q8_0 block is within half a step (plus the f16 rounding of the
// scale) of its input, outliers included.
TEST(ActivationQuant, Q8_0ElementErrorWithinHalfStep) {
  std::mt19937 rng(13);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(4096 + 32), y(x.size());
  for (auto& v : x) v = g(rng);
  x[100] = 40.0f;
  x[1000] = -1e-3f;
  std::vector<uint8_t> q(dtype_row_bytes(DType::kQ8_0, 4096 + 32));
  K().of(DType::kQ8_0).from_float(x.data(), q.data(), 4096 + 32);
  K().of(DType::kQ8_0).to_float(q.data(), y.data(), 4096 + 32);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[32 * b + j]));
    for (int j = 0; j < 32; ++j) {
      ASSERT_LE(std::fabs(x[32 * b + j] - y[32 * b + j]), 0.5625f * amax / 127.0f) << 32 * b + j;
    }
  }
}

TEST(ActivationQuant, Q8_0RoundsToNearestEven) {
  // amax 127 makes the scale exactly 1, so x*127/amax = x and ties are visible.
  float x[32] = {};
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = 3.5f;
  x[3] = -2.5f;
  x[4] = 0.5f;
  x[5] = -126.49f;
  BlockQ8_0 b{};
  K().of(DType::kQ8_0).from_float(x, &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 2);
  EXPECT_EQ(b.qs[2], 4);
  EXPECT_EQ(b.qs[3], -2);
  EXPECT_EQ(b.qs[4], 0);
  EXPECT_EQ(b.qs[5], -126);
  // All zero: scale 0, levels 0.
  float z[32] = {};
  K().of(DType::kQ8_0).from_float(z, &b, 32);
  EXPECT_EQ(b.d, 0);
  for (int8_t q : b.qs) EXPECT_EQ(q, 0);
}

TEST(ActivationQuant, Q8_1StoresScaledSum) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2.0f, 1.0f);
  std::vector<float> x(64);
  for (auto& v : x) v = u(rng);
  BlockQ8_1 b[2];
  K().of(DType::kQ8_1).from_float(x.data(), b, 64);
  for (int i = 0; i < 2; ++i) {
    int sum = 0;
    float amax = 0;
    for (int8_t q : b[i].qs) sum += q;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[32 * i + j]));
    EXPECT_EQ(b[i].d, fp32_to_fp16(amax / 127.0f));
    EXPECT_EQ(b[i].s, fp32_to_fp16(amax / 127.0f * static_cast<float>(sum)));
  }
}

TEST(ActivationQuant, Q8_KSignedExtremeAndBsums) {
  std::vector<float> x(512);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : x) v = u(rng);
  x[10] = 3.0f;    // block 0: positive extreme maps to -127 with a negative scale
  x[300] = -2.0f;  // block 1: negative extreme maps to -127 with a positive scale
  BlockQ8_K b[2];
  K().of(DType::kQ8_K).from_float(x.data(), b, 512);
  EXPECT_EQ(b[0].qs[10], -127);
  EXPECT_FLOAT_EQ(b[0].d, 3.0f / -127.0f);
  EXPECT_EQ(b[1].qs[300 - 256], -127);
  EXPECT_FLOAT_EQ(b[1].d, 2.0f / 127.0f);
  for (const auto& blk : b) {
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += blk.qs[16 * g + l];
      EXPECT_EQ(blk.bsums[g], s);
    }
  }
  // Ties go to even: with max -127 the scale is exactly 1.
  std::vector<float> t(256, 0.0f);
  t[0] = -127.0f;
  t[1] = 4.5f;
  t[2] = -5.5f;
  K().of(DType::kQ8_K).from_float(t.data(), b, 256);
  EXPECT_EQ(b[0].d, 1.0f);
  EXPECT_EQ(b[0].qs[0], -127);
  EXPECT_EQ(b[0].qs[1], 4);
  EXPECT_EQ(b[0].qs[2], -6);
}

// ---------------------------------------------------------------------------------------
// Dot products and gemm

const DType kWeightTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0,
                              DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                              DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
                              DType::kQ6_K};

TEST(Table, EveryWeightTypeHasItsKernels) {
  for (DType t : kWeightTypes) {
    const TypeKernels& tk = K().of(t);
    EXPECT_NE(tk.to_float, nullptr) << dtype_name(t);
    EXPECT_NE(tk.vec_dot, nullptr) << dtype_name(t);
    EXPECT_NE(tk.gemm, nullptr) << dtype_name(t);
    EXPECT_NE(K().of(tk.vec_dot_type).from_float, nullptr) << dtype_name(t);
    EXPECT_NE(K().of(tk.vec_dot_type).to_float, nullptr) << dtype_name(t);
    EXPECT_TRUE(K().supports_matmul(t));
  }
  EXPECT_EQ(K().of(DType::kQ4_0).vec_dot_type, DType::kQ8_0);
  EXPECT_EQ(K().of(DType::kQ5_0).vec_dot_type, DType::kQ8_0);
  EXPECT_EQ(K().of(DType::kQ8_0).vec_dot_type, DType::kQ8_0);
  EXPECT_EQ(K().of(DType::kQ4_1).vec_dot_type, DType::kQ8_1);
  EXPECT_EQ(K().of(DType::kQ5_1).vec_dot_type, DType::kQ8_1);
  EXPECT_EQ(K().of(DType::kQ4_K).vec_dot_type, DType::kQ8_K);
  EXPECT_EQ(K().of(DType::kQ6_K).vec_dot_type, DType::kQ8_K);
  EXPECT_EQ(K().of(DType::kF16).vec_dot_type, DType::kF16);
  EXPECT_EQ(K().of(DType::kBF16).vec_dot_type, DType::kBF16);
  EXPECT_FALSE(K().supports_matmul(DType::kQ8_K));
  EXPECT_NE(K().rms_norm, nullptr);
  EXPECT_NE(K().softmax, nullptr);
  EXPECT_NE(K().silu_mul, nullptr);
  EXPECT_NE(K().rope, nullptr);
  EXPECT_NE(K().axpy, nullptr);
  EXPECT_NE(K().f32_to_f16, nullptr);
  EXPECT_NE(K().f16_to_f32, nullptr);
}

class VecDot : public ::testing::TestWithParam<DType> {};

// The dot of quantized operands equals the float dot of the dequantized operands (the
// integer part is exact; only the per-block f32 scaling rounds), normalised by sum |w x|.
TEST_P(VecDot, EqualsDotOfDequantizedOperands) {
  const DType t = GetParam();
  const TypeKernels& tk = K().of(t);
  std::mt19937 rng(17);
  for (int64_t n : {32, 256, 512 * 3, 4096 + 256, 4096 + 32}) {
    if (n % dtype_info(t).block_size) continue;
    for (int rep = 0; rep < 4; ++rep) {
      const auto w = random_weights(t, n, rng);
      const auto xq = test::random_activations(K(), tk.vec_dot_type, n, rng);
      const auto wf = rows_as_float(K(), t, w.data(), n);
      const auto xf = rows_as_float(K(), tk.vec_dot_type, xq.data(), n);
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += double(wf[i]) * xf[i];
        mag += std::fabs(double(wf[i]) * xf[i]);
      }
      // Q8_1 carries s = f16(d * sum(q)) for the min term of Q4_1/Q5_1, with d the f32
      // scale before its own f16 rounding: two f16 roundings the dequantized operands do
      // not see, so allow them (min * s * 2^-10 per block).
      double slack = 0;
      if (tk.vec_dot_type == DType::kQ8_1) {
        const size_t wbytes = dtype_info(t).block_bytes;
        const auto* xb = reinterpret_cast<const BlockQ8_1*>(xq.data());
        for (int64_t b = 0; b < n / 32; ++b) {
          uint16_t m;  // Q4_1 and Q5_1 both start with f16 d, f16 m
          std::memcpy(&m, w.data() + b * wbytes + 2, 2);
          slack += std::fabs(fp16_to_fp32(m) * fp16_to_fp32(xb[b].s)) * 0x1p-10;
        }
      }
      float got = NAN;
      tk.vec_dot(n, &got, w.data(), xq.data());
      EXPECT_LE(std::fabs(got - ref), 2e-6 * mag + slack + 1e-30)
          << dtype_name(t) << " n=" << n << " got " << got << " ref " << ref;
    }
  }
}

// Whole path against the unquantized numbers: quantization error only, bounded loosely.
TEST_P(VecDot, ApproximatesFloatDot) {
  const DType t = GetParam();
  const TypeKernels& tk = K().of(t);
  if (!tk.from_float) GTEST_SKIP() << "no quantizer for " << dtype_name(t);
  std::mt19937 rng(23);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const int64_t n = 4096;
  std::vector<float> w(n), x(n);
  // Correlated operands make the true dot large (about n/2), so a wrong decoding cannot
  // hide inside the tolerance.
  for (int64_t i = 0; i < n; ++i) {
    w[i] = g(rng);
    x[i] = 0.5f * w[i] + g(rng);
  }
  std::vector<uint8_t> wq(dtype_row_bytes(t, n)), xq(dtype_row_bytes(tk.vec_dot_type, n));
  tk.from_float(w.data(), wq.data(), n);
  K().of(tk.vec_dot_type).from_float(x.data(), xq.data(), n);
  double ref = 0;
  for (int64_t i = 0; i < n; ++i) ref += double(w[i]) * x[i];
  float got = 0;
  tk.vec_dot(n, &got, wq.data(), xq.data());
  // Quantization noise grows like sqrt(n) * sigma_err (sigma_err ~0.1 for 4-bit types):
  // 0.5 * sqrt(n) = 32 is several sigmas, against a true value near 2048.
  EXPECT_GT(ref, 1500.0);
  EXPECT_NEAR(got, ref, 0.5 * std::sqrt(double(n))) << dtype_name(t);
}

TEST_P(VecDot, GemmEqualsVecDotLoops) {
  const DType t = GetParam();
  const TypeKernels& tk = K().of(t);
  std::mt19937 rng(29);
  const int64_t k = 512 + (dtype_info(t).block_size == 256 ? 256 : 96);
  const int64_t rows = 7, cols = 3, ldo = rows + 2;
  const size_t w_stride = dtype_row_bytes(t, k), x_stride = dtype_row_bytes(tk.vec_dot_type, k);
  std::vector<uint8_t> w, x;
  for (int r = 0; r < rows; ++r) {
    const auto row = random_weights(t, k, rng);
    w.insert(w.end(), row.begin(), row.end());
  }
  for (int c = 0; c < cols; ++c) {
    const auto col = test::random_activations(K(), tk.vec_dot_type, k, rng);
    x.insert(x.end(), col.begin(), col.end());
  }
  std::vector<float> out(static_cast<size_t>(ldo * cols), -7.0f);
  tk.gemm(k, 2, 6, cols, w.data(), w_stride, x.data(), x_stride, out.data(), ldo);
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t r = 0; r < ldo; ++r) {
      const float got = out[c * ldo + r];
      if (r < 2 || r >= 6) {
        EXPECT_EQ(got, -7.0f) << "gemm wrote outside rows [r0, r1)";
        continue;
      }
      float want = 0;
      tk.vec_dot(k, &want, w.data() + r * w_stride, x.data() + c * x_stride);
      EXPECT_EQ(got, want) << dtype_name(t) << " r=" << r << " c=" << c;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, VecDot, ::testing::ValuesIn(kWeightTypes),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace airt::hal
