// Tensor element types, numbered as GGUF/ggml number them (the number is what a GGUF
// file stores), and their block geometry.
#pragma once

#include <cstddef>
#include <cstdint>

namespace airt::hal {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};
constexpr uint32_t kDTypeCount = 31;  // table size indexed by the numeric value

struct DTypeInfo {
  const char* name;   // "q4_0"; nullptr for numbers that are not a type airt knows
  int64_t block_size;  // elements per block (1 for plain floats)
  size_t block_bytes;  // bytes per block
};

// Geometry of `t`; name == nullptr when the number is not a supported type.
const DTypeInfo& dtype_info(DType t);
bool dtype_known(uint32_t raw);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }
// Bytes of a row of `n` elements (n must be a multiple of the block size).
inline size_t dtype_row_bytes(DType t, int64_t n) {
  const DTypeInfo& i = dtype_info(t);
  return static_cast<size_t>(n / i.block_size) * i.block_bytes;
}

}  // namespace airt::hal
