#include "governor/sensors/sensors.h"

#include <algorithm>

#include "governor/sensors/cpu.h"
#include "governor/sensors/libsensors.h"
#include "governor/sensors/memory_source.h"
#include "governor/sensors/power.h"
#include "governor/sensors/thermal.h"
#include "runtime/core/log.h"

namespace airt::governor {
namespace {

void take_max(std::optional<double>& into, double v) {
  if (!into || v > *into) into = v;
}
void take_min(std::optional<double>& into, double v) {
  if (!into || v < *into) into = v;
}

}  // namespace

void snapshot_add(Snapshot& s, const Sample& x) {
  switch (x.quantity) {
    case Quantity::kTemperature: take_max(s.temp_c, x.value); break;
    case Quantity::kTripPoint: take_min(s.temp_trip_c, x.value); break;
    case Quantity::kPower: break;  // rails are parts of the total
    case Quantity::kPowerTotal: s.power_w = s.power_w.value_or(0) + x.value; break;
    case Quantity::kMemAvailable: take_min(s.mem_avail_mb, x.value); break;
    case Quantity::kCpuFreq: take_max(s.cpu_mhz, x.value); break;
    case Quantity::kCpuMaxFreq: take_max(s.cpu_max_mhz, x.value); break;
    case Quantity::kThrottledFlags: s.throttled_flags = uint32_t(x.value); break;
  }
}

Sensors::Sensors(std::vector<std::unique_ptr<Source>> sources) {
  size_t capacity = 0;
  for (auto& s : sources) {
    if (!s->absent().empty()) {
      AIRT_LOG_INFO("governor: %s sensor skipped: %s", s->kind(), s->absent().c_str());
      absent_.push_back(std::string(s->kind()) + ": " + s->absent());
      continue;
    }
    capacity += s->capacity();
    sources_.push_back(std::move(s));
  }
  samples_.resize(capacity);
}

Sensors Sensors::live(const std::string& root) {
  std::vector<std::unique_ptr<Source>> s;
  s.push_back(std::make_unique<ThermalSource>(root));
  s.push_back(std::make_unique<LibsensorsSource>(root));
  s.push_back(std::make_unique<PowerSource>(root));
  s.push_back(std::make_unique<MemorySource>(root));
  s.push_back(std::make_unique<CpuSource>(root));
  return Sensors(std::move(s));
}

Sensors Sensors::replay(Trace trace) {
  std::vector<std::unique_ptr<Source>> s;
  s.push_back(std::make_unique<ReplaySource>(std::move(trace)));
  return Sensors(std::move(s));
}

Snapshot Sensors::read(double t_s) {
  Snapshot snap;
  snap.t_s = t_s;
  size_t n = 0;
  for (auto& src : sources_)
    n += src->read(t_s, std::span<Sample>(samples_).subspan(n, src->capacity()));
  last_count_ = n;
  for (size_t i = 0; i < n; ++i) snapshot_add(snap, samples_[i]);
  if ((snap.cpu_mhz && snap.cpu_max_mhz) || snap.throttled_flags) {
    snap.throttled = CpuReading{snap.cpu_mhz, snap.cpu_max_mhz, snap.throttled_flags}.throttled();
  }
  return snap;
}

}  // namespace airt::governor
