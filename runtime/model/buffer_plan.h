// Placement of activation buffers by lifetime, like a register allocator: each buffer
// is live from its first use to its last use (steps of one pass), and two buffers may
// share bytes only when their lifetimes do not overlap. The arena region then needs the
// largest live set (plus fragmentation), not the sum of every buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace airt::model {

struct BufferUse {
  size_t bytes = 0;
  int32_t first = 0;  // first step that reads or writes it
  int32_t last = 0;   // last step, inclusive
  size_t offset = 0;  // set by buffer_plan_place()
};

// Sets every buffer's offset (a multiple of `align`) and returns the bytes the region
// needs. Largest buffers are placed first, each at the lowest offset that does not
// overlap a placed buffer whose lifetime intersects its own. Start-up code (allocates).
size_t buffer_plan_place(std::span<BufferUse> buffers, size_t align);

}  // namespace airt::model
