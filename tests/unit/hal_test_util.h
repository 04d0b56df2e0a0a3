// Test data for the kernel tests: random weight rows in any type (random bytes with sane
// scales, so every bit of a block layout is exercised independently of our quantizers),
// quantized activations, and rows decoded back to float.
#pragma once

#include <cstring>
#include <string>
#include <random>
#include <vector>

#include "hal/cpu/kernels.h"
#include "hal/dtype.h"
#include "hal/fp16.h"
#include "hal/quant_blocks.h"

namespace airt::hal::test {

// The kernel tables the tests run on this architecture (one this CPU lacks skips itself).
inline const std::vector<const char*>& isa_tables() {
  static const std::vector<const char*> tables = {"generic",
#if defined(__x86_64__)
                                                  "avx2", "avx512", "amx"
#elif defined(__aarch64__)
                                                  "neon", "dotprod"
#endif
  };
  return tables;
}

template <class Block, class Fix>
void fix_blocks(std::vector<uint8_t>& bytes, Fix fix) {
  const size_t nb = bytes.size() / sizeof(Block);
  for (size_t i = 0; i < nb; ++i) {
    Block b;
    std::memcpy(&b, bytes.data() + i * sizeof(Block), sizeof(Block));
    fix(b);
    std::memcpy(bytes.data() + i * sizeof(Block), &b, sizeof(Block));
  }
}

inline std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> out(dtype_row_bytes(t, n));
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.002f, 0.02f);
  std::uniform_real_distribution<float> offset(-0.1f, 0.1f);
  auto h = [&](float v) { return fp32_to_fp16(v); };
  auto s = [&] { return h(scale(rng) * ((rng() & 1) ? 1.0f : -1.0f)); };
  if (t == DType::kF32 || t == DType::kF16 || t == DType::kBF16) {
    std::vector<float> f(static_cast<size_t>(n));
    for (auto& v : f) v = g(rng);
    for (int64_t i = 0; i < n; ++i) {
      if (t == DType::kF32) std::memcpy(out.data() + 4 * i, &f[i], 4);
      const uint16_t v = t == DType::kF16 ? fp32_to_fp16(f[i]) : fp32_to_bf16(f[i]);
      if (t != DType::kF32) std::memcpy(out.data() + 2 * i, &v, 2);
    }
    return out;
  }
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  switch (t) {
    case DType::kQ4_0: fix_blocks<BlockQ4_0>(out, [&](BlockQ4_0& b) { b.d = s(); }); break;
    case DType::kQ5_0: fix_blocks<BlockQ5_0>(out, [&](BlockQ5_0& b) { b.d = s(); }); break;
    case DType::kQ8_0: fix_blocks<BlockQ8_0>(out, [&](BlockQ8_0& b) { b.d = s(); }); break;
    case DType::kQ4_1:
      fix_blocks<BlockQ4_1>(out, [&](BlockQ4_1& b) { b.d = s(); b.m = h(offset(rng)); });
      break;
    case DType::kQ5_1:
      fix_blocks<BlockQ5_1>(out, [&](BlockQ5_1& b) { b.d = s(); b.m = h(offset(rng)); });
      break;
    case DType::kQ2_K:
      fix_blocks<BlockQ2_K>(out, [&](BlockQ2_K& b) { b.d = s(); b.dmin = h(scale(rng)); });
      break;
    case DType::kQ3_K: fix_blocks<BlockQ3_K>(out, [&](BlockQ3_K& b) { b.d = s(); }); break;
    case DType::kQ4_K:
      fix_blocks<BlockQ4_K>(out, [&](BlockQ4_K& b) { b.d = h(scale(rng) / 16); b.dmin = h(scale(rng) / 16); });
      break;
    case DType::kQ5_K:
      fix_blocks<BlockQ5_K>(out, [&](BlockQ5_K& b) { b.d = h(scale(rng) / 32); b.dmin = h(scale(rng) / 16); });
      break;
    case DType::kQ6_K: fix_blocks<BlockQ6_K>(out, [&](BlockQ6_K& b) { b.d = h(scale(rng) / 64); }); break;
    default: break;
  }
  return out;
}

// Gaussian activations converted to `t` by the reference quantizer.
inline std::vector<uint8_t> random_activations(const Kernels& k, DType t, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> f(static_cast<size_t>(n));
  for (auto& v : f) v = g(rng);
  std::vector<uint8_t> out(dtype_row_bytes(t, n));
  k.of(t).from_float(f.data(), out.data(), n);
  return out;
}

inline std::vector<float> rows_as_float(const Kernels& k, DType t, const void* data, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  k.of(t).to_float(data, out.data(), n);
  return out;
}

}  // namespace airt::hal::test
