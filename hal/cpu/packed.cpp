#include "hal/cpu/packed.h"

#include <cstring>

#include "hal/quant_blocks.h"

namespace airt::hal {

bool packable(DType type, int64_t rows, int64_t cols) {
  return type == DType::kQ4_0 && rows > 0 && rows % kPackRows == 0 && cols > 0 && cols % 32 == 0;
}

void pack_rows(DType type, const void* src, size_t row_bytes, int64_t rows, int64_t cols, void* dst) {
  (void)type;
  const int64_t nb = cols / 32;
  const auto* s = static_cast<const uint8_t*>(src);
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t p = 0; p < rows / kPackRows; ++p) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = d + size_t(p * nb + b) * kPackedQ4_0BlockBytes;
      for (int r = 0; r < kPackRows; ++r) {
        const auto* q = reinterpret_cast<const BlockQ4_0*>(s + size_t(p * kPackRows + r) * row_bytes) + b;
        for (int j = 0; j < 4; ++j) std::memcpy(blk + 64 * j + 4 * r, q->qs + 4 * j, 4);
        std::memcpy(blk + 256 + 2 * r, &q->d, 2);
      }
    }
  }
}

void unpack_rows(DType type, const void* packed, int64_t rows, int64_t cols, void* dst, size_t row_bytes) {
  (void)type;
  const int64_t nb = cols / 32;
  const auto* s = static_cast<const uint8_t*>(packed);
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t p = 0; p < rows / kPackRows; ++p) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = s + size_t(p * nb + b) * kPackedQ4_0BlockBytes;
      for (int r = 0; r < kPackRows; ++r) {
        auto* q = reinterpret_cast<BlockQ4_0*>(d + size_t(p * kPackRows + r) * row_bytes) + b;
        for (int j = 0; j < 4; ++j) std::memcpy(q->qs + 4 * j, blk + 64 * j + 4 * r, 4);
        std::memcpy(&q->d, blk + 256 + 2 * r, 2);
      }
    }
  }
}

}  // namespace airt::hal
