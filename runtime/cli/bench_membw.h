// airt bench --membw: the memory read bandwidth the decode loop can hope for, measured
// once per run: a buffer much larger than the caches, summed by every thread at once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace airt::cli {

// Best of `passes` passes over a `bytes` buffer read by `threads` threads; GB/s (1e9).
// The buffer is written once first so every page is resident before timing.
double bench_membw_gbps(size_t bytes, int32_t threads, int passes = 3);

// Fraction of the bandwidth a tg row uses: bytes read per token x tokens/s / bandwidth.
inline double bench_roofline(double bytes_per_token, double tokens_per_s, double gbps) {
  return gbps > 0 ? bytes_per_token * tokens_per_s / (gbps * 1e9) : 0;
}

}  // namespace airt::cli
