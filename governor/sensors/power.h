// Power rails: hwmon power meters (power*_input, microwatts), hwmon voltage x current
// pairs (in*_input millivolts x curr*_input milliamps, as Jetson's INA3221 reports each
// rail, named by in*_label / curr*_label) and /sys/class/power_supply/* (power_now, or
// voltage_now x current_now, micro-units).
#pragma once

#include <string>
#include <vector>

#include "governor/sensors/source.h"
#include "governor/sensors/sysfs.h"

namespace airt::governor {

// Jetson modules' total input rail; the other INA3221 rails are part of it, so it is the
// board's power on its own rather than summed with them.
inline constexpr const char* kTotalRailName = "VDD_IN";

class PowerSource final : public Source {
 public:
  explicit PowerSource(const std::string& root = "/");
  const char* kind() const override { return "power"; }
  size_t capacity() const override { return rails_.size() + 1; }
  size_t read(double t_s, std::span<Sample> out) override;

  struct Rail {
    std::string name;
    SysfsAttr power;            // micro- (power_supply) or microwatts (hwmon)
    SysfsAttr volts, amps;      // used when power is not open
    double volt_amp_scale = 0;  // to watts: 1e-6 for mV x mA, 1e-12 for uV x uA
  };
  const std::vector<Rail>& rails() const { return rails_; }

 private:
  void add_hwmon(const std::string& dir);
  void add_power_supply(const std::string& dir);

  std::vector<Rail> rails_;
};

}  // namespace airt::governor
