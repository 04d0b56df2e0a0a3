#include "hal/dtype.h"

namespace airt::hal {
namespace {

struct Table {
  DTypeInfo info[kDTypeCount] = {};
  constexpr Table() {
    auto set = [this](DType t, const char* name, int64_t bs, size_t bytes) {
      info[static_cast<uint32_t>(t)] = {name, bs, bytes};
    };
    // Block sizes and byte counts are the GGUF format's (ggml block layouts).
    set(DType::kF32, "f32", 1, 4);
    set(DType::kF16, "f16", 1, 2);
    set(DType::kBF16, "bf16", 1, 2);
    set(DType::kQ4_0, "q4_0", 32, 2 + 16);
    set(DType::kQ4_1, "q4_1", 32, 2 + 2 + 16);
    set(DType::kQ5_0, "q5_0", 32, 2 + 4 + 16);
    set(DType::kQ5_1, "q5_1", 32, 2 + 2 + 4 + 16);
    set(DType::kQ8_0, "q8_0", 32, 2 + 32);
    set(DType::kQ8_1, "q8_1", 32, 2 + 2 + 32);
    set(DType::kQ2_K, "q2_k", 256, 2 + 2 + 16 + 64);
    set(DType::kQ3_K, "q3_k", 256, 2 + 12 + 32 + 64);
    set(DType::kQ4_K, "q4_k", 256, 2 + 2 + 12 + 128);
    set(DType::kQ5_K, "q5_k", 256, 2 + 2 + 12 + 32 + 128);
    set(DType::kQ6_K, "q6_k", 256, 128 + 64 + 16 + 2);
    set(DType::kQ8_K, "q8_k", 256, 4 + 256 + 32);
  }
};

constexpr Table kTable;
constexpr DTypeInfo kUnknown = {nullptr, 1, 0};

}  // namespace

const DTypeInfo& dtype_info(DType t) {
  uint32_t i = static_cast<uint32_t>(t);
  return i < kDTypeCount && kTable.info[i].name ? kTable.info[i] : kUnknown;
}

bool dtype_known(uint32_t raw) { return raw < kDTypeCount && kTable.info[raw].name != nullptr; }

}  // namespace airt::hal
