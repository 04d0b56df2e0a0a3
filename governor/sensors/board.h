// Temperature and power as the board's kernel drivers report them in sysfs:
// thermal zones (/sys/class/thermal/thermal_zone*/temp, millidegrees Celsius) and hwmon
// power meters (/sys/class/hwmon/hwmon*/power*_input, microwatts). Paths are read under a
// root directory so tests can use a recorded tree.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace airt::governor {

struct ThermalZone {
  std::string name;  // the zone's `type`, e.g. "cpu-thermal", "x86_pkg_temp"
  double celsius = 0;
};

struct BoardReading {
  std::vector<ThermalZone> zones;
  std::optional<double> max_celsius;  // hottest zone; absent when the board exposes none
  std::optional<double> power_watts;  // sum of the hwmon power meters; absent when none
};

// Never fails: a board without these files gives empty readings.
BoardReading read_board(const std::string& root = "/");

}  // namespace airt::governor
