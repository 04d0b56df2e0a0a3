// airt bench's resources: a background thread that reads the board's sensors (power,
// temperature, CPU frequency, throttled flags) every ~100 ms while the run goes on, and the
// process's peak resident memory. Sensors a board lacks stay absent: never a guess.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cli/bench_stats.h"

namespace airt::cli {

struct BoardSample {
  double t_s = 0;  // seconds since the sampler started
  std::optional<double> celsius;  // hottest thermal zone
  std::optional<double> watts;    // sum of the power meters
  std::optional<double> mhz;      // fastest core
  bool throttled = false;         // below its maximum frequency, or the Pi's flags say so
};

class BenchSampler {
 public:
  // Starts sampling `root` (the sysfs tree; "/" on a board) every period_ms.
  explicit BenchSampler(std::string root = "/", int period_ms = 100);
  ~BenchSampler();
  BenchSampler(const BenchSampler&) = delete;
  BenchSampler& operator=(const BenchSampler&) = delete;

  double clock_s() const;  // the samples' clock
  BoardSample read_now() const;  // one reading now (not kept)
  std::vector<BoardSample> samples() const;  // a copy of every sample so far
  // Every power reading so far (empty on a board without a meter).
  std::vector<PowerSample> power_trace() const;

 private:
  void loop();
  std::string root_;
  int period_ms_;
  int64_t start_ns_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<BoardSample> samples_;
  std::thread thread_;  // last: starts once everything above is set
};

// VmHWM of this process in bytes (0 where /proc is missing).
size_t bench_peak_rss_bytes();
// Starts a new peak (writes 5 to /proc/self/clear_refs; Linux 4.0+). False when refused:
// the peak then covers the run so far.
bool bench_reset_peak_rss();

}  // namespace airt::cli
