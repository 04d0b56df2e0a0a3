#include "runtime/engine/draft/ngram_drafter.h"

#include <algorithm>

namespace airt::engine {

Result<int32_t> NgramDrafter::draft(int32_t, std::span<const int32_t> h, std::span<int32_t> out) {
  const int64_t n = int64_t(h.size());
  for (int32_t len = kMaxN; len >= kMinN; --len) {
    if (n <= len) continue;
    const int32_t* tail = h.data() + (n - len);
    // The latest earlier occurrence of the tail, which must be followed by a token.
    for (int64_t j = n - len - 1; j >= 0; --j) {
      if (h[size_t(j)] != tail[0] || !std::equal(tail, tail + len, h.data() + j)) continue;
      const int64_t from = j + len;
      const int64_t got = std::min<int64_t>(int64_t(out.size()), n - from);
      std::copy(h.data() + from, h.data() + from + got, out.data());
      return int32_t(got);
    }
  }
  return 0;
}

}  // namespace airt::engine
