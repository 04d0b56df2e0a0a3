// Thermal zones (/sys/class/thermal/thermal_zone*): the zone's type, its temperature
// (millidegrees C) and its trip points (trip_point_N_temp / trip_point_N_type).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "governor/sensors/source.h"
#include "governor/sensors/sysfs.h"

namespace airt::governor {

struct TripPoint {
  std::string type;  // "passive", "active" (a fan step), "hot", "critical"
  double celsius = 0;
};

struct ThermalZoneInfo {
  std::string name;  // the zone's `type`, e.g. "cpu-thermal", "x86_pkg_temp"
  std::string dir;   // the zone's directory
  std::vector<TripPoint> trips;
  // The lowest trip that throttles or shuts down (passive, hot, critical): fan steps
  // ("active") are not limits.
  std::optional<double> limit_celsius() const;
};

// The zones under `root`, in directory order; never fails (none: empty).
std::vector<ThermalZoneInfo> list_thermal_zones(const std::string& root);

class ThermalSource final : public Source {
 public:
  explicit ThermalSource(const std::string& root = "/");
  const char* kind() const override { return "thermal"; }
  size_t capacity() const override { return 2 * zones_.size(); }
  size_t read(double t_s, std::span<Sample> out) override;
  const std::vector<ThermalZoneInfo>& zones() const { return zones_; }

 private:
  std::vector<ThermalZoneInfo> zones_;
  std::vector<SysfsAttr> temps_;  // one per zone
};

}  // namespace airt::governor
