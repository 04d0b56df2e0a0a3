// Monotonic time for latency measurement and deadlines.
#pragma once

#include <cstdint>
#include <ctime>

namespace airt {

inline int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

inline double now_ms() { return static_cast<double>(now_ns()) / 1e6; }

}  // namespace airt
