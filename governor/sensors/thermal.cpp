#include "governor/sensors/thermal.h"

#include <algorithm>
#include <filesystem>

namespace airt::governor {
namespace {

namespace fs = std::filesystem;

constexpr double kMilli = 1000.0;

// trip_point_0_temp, trip_point_1_temp, ... until one is missing.
std::vector<TripPoint> read_trips(const fs::path& zone) {
  std::vector<TripPoint> trips;
  for (int i = 0;; ++i) {
    const std::string base = "trip_point_" + std::to_string(i);
    auto milli = sysfs_read_int((zone / (base + "_temp")).string());
    if (!milli) break;
    trips.push_back({sysfs_read_line((zone / (base + "_type")).string()), double(*milli) / kMilli});
  }
  return trips;
}

}  // namespace

std::optional<double> ThermalZoneInfo::limit_celsius() const {
  std::optional<double> limit;
  for (const TripPoint& t : trips) {
    if (t.type == "active" || t.celsius <= 0) continue;  // fan steps; disabled trips read 0 or less
    if (!limit || t.celsius < *limit) limit = t.celsius;
  }
  return limit;
}

std::vector<ThermalZoneInfo> list_thermal_zones(const std::string& root) {
  std::vector<ThermalZoneInfo> zones;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(sysfs_path(root, "/sys/class/thermal"), ec)) {
    if (e.path().filename().string().rfind("thermal_zone", 0) != 0) continue;
    zones.push_back(
        {sysfs_read_line((e.path() / "type").string()), e.path().string(), read_trips(e.path())});
  }
  // directory_iterator's order is the file system's: sort so zone0 comes first everywhere.
  std::sort(zones.begin(), zones.end(), [](const auto& a, const auto& b) { return a.dir < b.dir; });
  return zones;
}

ThermalSource::ThermalSource(const std::string& root) : zones_(list_thermal_zones(root)) {
  for (const ThermalZoneInfo& z : zones_) temps_.emplace_back(z.dir + "/temp");
  if (zones_.empty()) absent_ = "no thermal zones under " + sysfs_path(root, "/sys/class/thermal");
}

size_t ThermalSource::read(double t_s, std::span<Sample> out) {
  size_t n = 0;
  for (size_t i = 0; i < zones_.size() && n + 2 <= out.size(); ++i) {
    auto milli = temps_[i].read_int();
    if (!milli) continue;  // a zone whose sensor is off reads as an error
    out[n++] = {t_s, double(*milli) / kMilli, "C", zones_[i].name, Quantity::kTemperature};
    if (auto limit = zones_[i].limit_celsius())
      out[n++] = {t_s, *limit, "C", zones_[i].name, Quantity::kTripPoint};
  }
  return n;
}

}  // namespace airt::governor
