// Every sensor source read into one snapshot: what the governor decides on. Live (the
// board's sysfs under a root) or replayed (a CSV trace, at the trace's time).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "governor/sensors/replay.h"
#include "governor/sensors/source.h"

namespace airt::governor {

struct Snapshot {
  double t_s = 0;
  std::optional<double> temp_c;        // hottest zone or chip
  std::optional<double> temp_trip_c;   // the lowest throttling/critical trip of any zone
  std::optional<double> power_w;       // the board's total
  std::optional<double> mem_avail_mb;  // what this process may still use
  std::optional<double> cpu_mhz, cpu_max_mhz;
  std::optional<uint32_t> throttled_flags;  // the Pi firmware's, where present
  std::optional<bool> throttled;  // CpuReading::throttled(): below 97% of max, or the flags
};

// Folds samples into a snapshot: the hottest temperature, the lowest trip, the sum of the
// sources' totals. Exposed so a caller with its own sources gets the same rules.
void snapshot_add(Snapshot& s, const Sample& sample);

class Sensors {
 public:
  // thermal, libsensors, power, memory and cpu under `root`. A source with nothing to read
  // is logged once, listed in absent() and never read.
  static Sensors live(const std::string& root = "/");
  static Sensors replay(Trace trace);
  // Any sources (tests, a board with its own); takes ownership.
  explicit Sensors(std::vector<std::unique_ptr<Source>> sources);

  // Reads every present source at t_s (replay: the trace's time). Never allocates.
  Snapshot read(double t_s);
  // The samples of the last read(), e.g. for telemetry of every rail.
  std::span<const Sample> last_samples() const { return {samples_.data(), last_count_}; }
  // "thermal: no thermal zones under /sys/class/thermal", one line per absent source.
  const std::vector<std::string>& absent() const { return absent_; }
  const std::vector<std::unique_ptr<Source>>& sources() const { return sources_; }

 private:
  std::vector<std::unique_ptr<Source>> sources_;  // present ones only
  std::vector<std::string> absent_;
  std::vector<Sample> samples_;  // sized for every source's capacity at construction
  size_t last_count_ = 0;
};

}  // namespace airt::governor
