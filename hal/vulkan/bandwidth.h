// The memory bandwidth a Vulkan device's shaders reach: a buffer copy kernel over two
// device-local buffers, best of several runs. What decode can approach: each token
// streams every weight once (airt info --bandwidth; the check script's roofline).
#pragma once

#include <cstdint>

#include "runtime/core/result.h"

namespace airt::hal::vk {

class Context;

struct CopyBandwidth {
  double bytes_per_s = 0;  // read + written bytes per second
  uint64_t bytes = 0;       // copied per run (the ask, within the largest binding)
  bool timestamps = false;  // timed on the device (else the host's clock around each run)
};

// Copies `bytes` (rounded down to 16, at most the largest storage binding) `reps` times;
// errors name the buffer that did not fit.
Result<CopyBandwidth> measure_copy_bandwidth(Context& ctx, uint64_t bytes, int reps = 5);

}  // namespace airt::hal::vk
