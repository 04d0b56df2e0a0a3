#include "governor/sensors/libsensors.h"

#ifdef AIRT_HAVE_LIBSENSORS
#include <sensors/sensors.h>

#include <cstdlib>
#endif

namespace airt::governor {

#ifdef AIRT_HAVE_LIBSENSORS
namespace {

std::string chip_name(const sensors_chip_name* chip) {
  char buf[128];
  if (sensors_snprintf_chip_name(buf, sizeof(buf), chip) < 0)
    return chip->prefix ? chip->prefix : "chip";
  return buf;
}

std::string feature_label(const sensors_chip_name* chip, const sensors_feature* f) {
  char* l = sensors_get_label(chip, f);  // malloc'd by libsensors
  std::string s = l ? l : f->name;
  std::free(l);
  return s;
}

}  // namespace

LibsensorsSource::LibsensorsSource(const std::string& root) {
  if (!root.empty() && root != "/") {
    absent_ = "libsensors reads the live /sys only, not " + root;
    return;
  }
  if (sensors_init(nullptr) != 0) {
    absent_ = "libsensors: sensors_init failed (check /etc/sensors3.conf)";
    return;
  }
  int nc = 0;
  while (const sensors_chip_name* chip = sensors_get_detected_chips(nullptr, &nc)) {
    int nf = 0;
    while (const sensors_feature* f = sensors_get_features(chip, &nf)) {
      if (f->type != SENSORS_FEATURE_TEMP || !chip->path) continue;
      const sensors_subfeature* in = sensors_get_subfeature(chip, f, SENSORS_SUBFEATURE_TEMP_INPUT);
      if (!in) continue;
      Input input{chip_name(chip) + " " + feature_label(chip, f),
                  SysfsAttr(std::string(chip->path) + "/" + in->name)};
      if (input.file.is_open()) inputs_.push_back(std::move(input));
    }
  }
  sensors_cleanup();
  if (inputs_.empty()) absent_ = "libsensors found no temperature inputs";
}
#else
LibsensorsSource::LibsensorsSource(const std::string&) {
  absent_ = "libsensors not built in (install libsensors-dev and configure again)";
}
#endif

size_t LibsensorsSource::read(double t_s, std::span<Sample> out) {
  size_t n = 0;
  for (const Input& in : inputs_) {
    if (n == out.size()) break;
    if (auto milli = in.file.read_int())
      out[n++] = {t_s, double(*milli) / 1000.0, "C", in.name, Quantity::kTemperature};
  }
  return n;
}

}  // namespace airt::governor
