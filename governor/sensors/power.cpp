#include "governor/sensors/power.h"

#include <algorithm>
#include <filesystem>

namespace airt::governor {
namespace {

namespace fs = std::filesystem;

bool exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// The N of every "<prefix>N_input" in dir, ascending.
std::vector<int> input_indices(const std::string& dir, const std::string& prefix) {
  std::vector<int> idx;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    const std::string n = f.path().filename().string();
    if (n.rfind(prefix, 0) != 0 || n.size() <= prefix.size() + 6 || !n.ends_with("_input"))
      continue;
    const std::string digits = n.substr(prefix.size(), n.size() - prefix.size() - 6);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    idx.push_back(std::stoi(digits));
  }
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::vector<std::string> sorted_dirs(const std::string& dir) {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

}  // namespace

PowerSource::PowerSource(const std::string& root) {
  for (const std::string& d : sorted_dirs(sysfs_path(root, "/sys/class/hwmon"))) add_hwmon(d);
  for (const std::string& d : sorted_dirs(sysfs_path(root, "/sys/class/power_supply")))
    add_power_supply(d);
  if (rails_.empty()) {
    absent_ = "no power meter: no hwmon power*_input or in*_input with curr*_input under " +
              sysfs_path(root, "/sys/class/hwmon") +
              ", no power_now or voltage_now and current_now under " +
              sysfs_path(root, "/sys/class/power_supply");
  }
}

void PowerSource::add_hwmon(const std::string& dir) {
  const std::string chip = sysfs_read_line(dir + "/name");
  auto label = [&](const std::string& a, const std::string& b, const std::string& fallback) {
    std::string l = sysfs_read_line(dir + "/" + a);
    if (l.empty()) l = sysfs_read_line(dir + "/" + b);
    return l.empty() ? chip + " " + fallback : l;
  };
  for (int i : input_indices(dir, "power")) {
    const std::string n = "power" + std::to_string(i);
    rails_.push_back(
        {label(n + "_label", n + "_label", n), SysfsAttr(dir + "/" + n + "_input"), {}, {}, 0});
  }
  for (int i : input_indices(dir, "in")) {
    const std::string in = "in" + std::to_string(i), curr = "curr" + std::to_string(i);
    if (!exists(dir + "/" + curr + "_input")) continue;  // a voltage alone is not power
    rails_.push_back({label(in + "_label", curr + "_label", in),
                      {},
                      SysfsAttr(dir + "/" + in + "_input"),
                      SysfsAttr(dir + "/" + curr + "_input"),
                      1e-6});
  }
}

void PowerSource::add_power_supply(const std::string& dir) {
  const std::string name = fs::path(dir).filename().string();
  if (exists(dir + "/power_now")) {
    rails_.push_back({name, SysfsAttr(dir + "/power_now"), {}, {}, 0});
  } else if (exists(dir + "/voltage_now") && exists(dir + "/current_now")) {
    rails_.push_back(
        {name, {}, SysfsAttr(dir + "/voltage_now"), SysfsAttr(dir + "/current_now"), 1e-12});
  }
}

size_t PowerSource::read(double t_s, std::span<Sample> out) {
  size_t n = 0;
  double sum = 0, total = -1;
  bool any = false;
  for (const Rail& r : rails_) {
    if (n + 2 > out.size()) break;  // keep room for the total
    double w;
    if (r.power.is_open()) {
      auto uw = r.power.read_int();
      if (!uw) continue;
      w = double(*uw) / 1e6;
    } else {
      auto v = r.volts.read_int();
      auto a = r.amps.read_int();
      if (!v || !a) continue;
      w = double(*v) * double(*a) * r.volt_amp_scale;
      if (w < 0) w = -w;  // power_supply reports a discharging battery's current as negative
    }
    out[n++] = {t_s, w, "W", r.name, Quantity::kPower};
    if (r.name == kTotalRailName) total = w;
    sum += w;
    any = true;
  }
  if (any && n < out.size())
    out[n++] = {t_s, total >= 0 ? total : sum, "W", "total", Quantity::kPowerTotal};
  return n;
}

}  // namespace airt::governor
