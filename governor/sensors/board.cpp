#include "governor/sensors/board.h"

#include <cstdlib>
#include <filesystem>

#include "runtime/core/file.h"

namespace airt::governor {
namespace {

namespace fs = std::filesystem;

std::optional<long long> read_integer(const fs::path& p) {
  auto text = read_file(p.string());
  if (!text.ok()) return std::nullopt;
  char* end = nullptr;
  long long v = std::strtoll(text->c_str(), &end, 10);
  if (end == text->c_str()) return std::nullopt;
  return v;
}

std::string read_line(const fs::path& p) {
  auto text = read_file(p.string());
  if (!text.ok()) return {};
  std::string s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

fs::path under(const std::string& root, const char* path) {
  return root.empty() || root == "/" ? fs::path(path) : fs::path(root) / (path + 1);
}

}  // namespace

BoardReading read_board(const std::string& root) {
  BoardReading r;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(under(root, "/sys/class/thermal"), ec)) {
    if (e.path().filename().string().rfind("thermal_zone", 0) != 0) continue;
    auto milli = read_integer(e.path() / "temp");
    if (!milli) continue;  // a zone whose sensor is off reads as an error
    ThermalZone z{read_line(e.path() / "type"), double(*milli) / 1000.0};
    if (!r.max_celsius || z.celsius > *r.max_celsius) r.max_celsius = z.celsius;
    r.zones.push_back(std::move(z));
  }
  for (const auto& e : fs::directory_iterator(under(root, "/sys/class/hwmon"), ec)) {
    std::error_code ec2;
    for (const auto& f : fs::directory_iterator(e.path(), ec2)) {
      const std::string n = f.path().filename().string();
      if (n.rfind("power", 0) != 0 || n.size() < 12 || n.compare(n.size() - 6, 6, "_input") != 0) continue;
      if (auto uw = read_integer(f.path())) r.power_watts = r.power_watts.value_or(0) + double(*uw) / 1e6;
    }
  }
  return r;
}

}  // namespace airt::governor
