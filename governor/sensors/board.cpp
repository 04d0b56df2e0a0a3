#include "governor/sensors/board.h"

#include "governor/sensors/power.h"

namespace airt::governor {

BoardReading read_board(const std::string& root) {
  BoardReading r;
  for (ThermalZoneInfo& z : list_thermal_zones(root)) {
    auto milli = sysfs_read_int(z.dir + "/temp");
    if (!milli) continue;  // a zone whose sensor is off reads as an error
    if (auto l = z.limit_celsius(); l && (!r.limit_celsius || *l < *r.limit_celsius))
      r.limit_celsius = l;
    ThermalZone zone{std::move(z.name), double(*milli) / 1000.0, std::move(z.trips)};
    if (!r.max_celsius || zone.celsius > *r.max_celsius) r.max_celsius = zone.celsius;
    r.zones.push_back(std::move(zone));
  }
  PowerSource power(root);
  std::vector<Sample> samples(power.capacity());
  const size_t n = power.read(0, samples);
  for (size_t i = 0; i < n; ++i) {
    if (samples[i].quantity == Quantity::kPowerTotal) r.power_watts = samples[i].value;
  }
  return r;
}

}  // namespace airt::governor
