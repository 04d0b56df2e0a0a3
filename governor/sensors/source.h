// What every sensor source produces: samples of one type (time, value, unit, name), so
// the aggregate, the event log and a trace recorder treat a thermal zone, a power rail and
// a replayed trace alike.
//
// A source finds its files once, at construction, and keeps them open: read() never
// allocates. A source with nothing to read says why in absent() and is skipped.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace airt::governor {

enum class Quantity : unsigned char {
  kTemperature,     // C, one per zone or chip
  kTripPoint,       // C, the lowest passive/hot/critical trip of a zone (fan trips excluded)
  kPower,           // W, one rail
  kPowerTotal,      // W, what the board draws (a rail named VDD_IN, else the rails' sum)
  kMemAvailable,    // MB this process may still use
  kCpuFreq,         // MHz, the fastest core now
  kCpuMaxFreq,      // MHz
  kThrottledFlags,  // the Raspberry Pi firmware's get_throttled bits
};

struct Sample {
  double t_s = 0;  // the caller's clock (live) or the trace's (replay)
  double value = 0;
  const char* unit = "";  // "C", "W", "MB", "MHz", "flags"
  std::string_view name;  // owned by the source: "cpu-thermal", "VDD_IN", "MemAvailable"
  Quantity quantity = Quantity::kTemperature;
};

class Source {
 public:
  virtual ~Source() = default;
  virtual const char* kind()
      const = 0;  // "thermal", "power", "libsensors", "memory", "cpu", "replay"
  // The most samples one read() gives; fixed at construction.
  virtual size_t capacity() const = 0;
  // Writes up to out.size() samples taken at t_s and returns how many. Never allocates.
  virtual size_t read(double t_s, std::span<Sample> out) = 0;
  // Why the source has nothing to read ("no /sys/class/thermal/thermal_zone*"); empty when present.
  const std::string& absent() const { return absent_; }

 protected:
  std::string absent_;
};

}  // namespace airt::governor
