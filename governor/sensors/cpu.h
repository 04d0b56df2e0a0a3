// CPU frequency as cpufreq reports it and, on a Raspberry Pi, the firmware's throttled
// flags: the two signs that the board has slowed the cores down (heat, a weak supply).
// Paths are read under a root directory so tests can use a recorded tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace airt::governor {

// Raspberry Pi firmware flags (get_throttled); bits 0-3 hold now, bits 16-19 since boot.
inline constexpr uint32_t kPiUnderVoltage = 1u << 0;
inline constexpr uint32_t kPiFreqCapped = 1u << 1;
inline constexpr uint32_t kPiThrottled = 1u << 2;
inline constexpr uint32_t kPiSoftTempLimit = 1u << 3;
inline constexpr int kPiSinceBootShift = 16;

struct CpuReading {
  std::optional<double> cur_mhz, max_mhz;
  std::optional<uint32_t> throttled_flags;
  // The cores run below 97% of their maximum, or the Pi firmware says the ARM clock is
  // capped or throttled now.
  bool throttled() const;
};

// cur_mhz: the fastest core's scaling_cur_freq, max_mhz: the highest cpuinfo_max_freq
// (cpu*/cpufreq, kHz), so idle cores and big.LITTLE clusters do not read as throttled;
// throttled_flags from /sys/devices/platform/soc/soc:firmware/get_throttled where present.
// Never fails: a board without these files gives empty readings.
CpuReading read_cpu(const std::string& root = "/");

}  // namespace airt::governor
