// Temperature and power as the board's kernel drivers report them in sysfs:
// thermal zones (/sys/class/thermal/thermal_zone*/temp, millidegrees Celsius, and their
// trip points) and power meters (PowerSource: hwmon power*_input, INA3221 voltage x
// current rails, power_supply). Paths are read under a root directory so tests can use a
// recorded tree. A one-shot reading for start-up and status; the governor samples the
// same files through the sources in governor/sensors/.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "governor/sensors/thermal.h"

namespace airt::governor {

struct ThermalZone {
  std::string name;  // the zone's `type`, e.g. "cpu-thermal", "x86_pkg_temp"
  double celsius = 0;
  std::vector<TripPoint> trips;
};

struct BoardReading {
  std::vector<ThermalZone> zones;
  std::optional<double> max_celsius;    // hottest zone; absent when the board exposes none
  std::optional<double> limit_celsius;  // the lowest passive/hot/critical trip of any zone
  std::optional<double>
      power_watts;  // the board's total (VDD_IN, else the rails' sum); absent when none
};

// Never fails: a board without these files gives empty readings.
BoardReading read_board(const std::string& root = "/");

}  // namespace airt::governor
