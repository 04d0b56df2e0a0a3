#include "runtime/model/buffer_plan.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "runtime/core/arena.h"

namespace airt::model {

size_t buffer_plan_place(std::span<BufferUse> buffers, size_t align) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Largest first; ties by first use so the result does not depend on the sort's whims.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].bytes != buffers[b].bytes) return buffers[a].bytes > buffers[b].bytes;
    return buffers[a].first < buffers[b].first;
  });
  std::vector<size_t> placed;
  size_t total = 0;
  for (size_t i : order) {
    BufferUse& b = buffers[i];
    const size_t size = align_up(b.bytes, align);
    // Placed buffers live at the same time as b, by offset.
    std::vector<size_t> live;
    for (size_t j : placed)
      if (buffers[j].first <= b.last && b.first <= buffers[j].last) live.push_back(j);
    std::sort(live.begin(), live.end(), [&](size_t x, size_t y) { return buffers[x].offset < buffers[y].offset; });
    size_t at = 0;
    for (size_t j : live) {
      const size_t lo = buffers[j].offset, hi = lo + align_up(buffers[j].bytes, align);
      if (at + size <= lo) break;  // fits in the gap before j
      at = std::max(at, hi);
    }
    b.offset = at;
    total = std::max(total, at + size);
    placed.push_back(i);
  }
  return total;
}

}  // namespace airt::model
