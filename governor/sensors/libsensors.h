// Temperatures of the chips lm-sensors knows (libsensors): chip and feature labels from
// its configuration, so "Package id 0" or "Tctl" reads as the user's `sensors` shows it.
// libsensors is used to find the inputs and their labels at construction only; the
// input files are then read in place, because sensors_get_value() goes through stdio
// (it allocates) and would apply `compute` lines the thermal limits were not set for.
// Power is left to PowerSource, which reads the same hwmon files, so it is not counted twice.
//
// Built only where libsensors-dev was found (AIRT_HAVE_LIBSENSORS); elsewhere the source
// is absent and says so.
#pragma once

#include <string>
#include <vector>

#include "governor/sensors/source.h"
#include "governor/sensors/sysfs.h"

namespace airt::governor {

class LibsensorsSource final : public Source {
 public:
  // libsensors reads the live /sys only: any other root gives an absent source.
  explicit LibsensorsSource(const std::string& root = "/");
  const char* kind() const override { return "libsensors"; }
  size_t capacity() const override { return inputs_.size(); }
  size_t read(double t_s, std::span<Sample> out) override;

 private:
  struct Input {
    std::string name;  // "coretemp-isa-0000 Package id 0"
    SysfsAttr file;    // millidegrees C
  };
  std::vector<Input> inputs_;
};

}  // namespace airt::governor
