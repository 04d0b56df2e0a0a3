#include "governor/sensors/memory_source.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "governor/sensors/memory.h"

namespace airt::governor {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr const char* kFromMeminfo = "MemAvailable";
constexpr const char* kFromCgroup = "cgroup memory.max less memory.current";

// "MemAvailable:   123456 kB" in a NUL-terminated /proc/meminfo image -> bytes.
std::optional<double> mem_available_bytes(const char* text) {
  const char* p = std::strstr(text, "\nMemAvailable:");
  if (!p) return std::nullopt;
  char* end = nullptr;
  double kb = std::strtod(p + std::strlen("\nMemAvailable:"), &end);
  if (end == p) return std::nullopt;
  return kb * 1024.0;
}

}  // namespace

MemorySource::MemorySource(const std::string& root) {
  auto m = read_memory(root);
  if (!m.ok()) {
    absent_ = m.error().message;
    return;
  }
  meminfo_ = SysfsAttr(sysfs_path(root, "/proc/meminfo"));
  std::string path = m->cgroup_path;
  const std::string base = sysfs_path(root, "/sys/fs/cgroup");
  while (!path.empty()) {
    const std::string dir = base + (path == "/" ? "" : path);
    groups_.push_back({SysfsAttr(dir + "/memory.max"), SysfsAttr(dir + "/memory.current")});
    if (path == "/") break;
    size_t slash = path.find_last_of('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

size_t MemorySource::read(double t_s, std::span<Sample> out) {
  if (out.empty() || !meminfo_.is_open()) return 0;
  char buf[8192];
  buf[0] = '\n';  // so the first line matches "\nKey:" too
  if (meminfo_.read(buf + 1, sizeof(buf) - 1) == 0) return 0;
  auto avail = mem_available_bytes(buf);
  if (!avail) return 0;
  double bytes = *avail;
  const char* from = kFromMeminfo;
  for (const Group& g : groups_) {
    auto mx = g.max.read_int();  // "max" (no limit) reads as no number
    if (!mx) continue;
    const double left = std::max(0.0, double(*mx) - double(g.current.read_int().value_or(0)));
    if (left < bytes) {
      bytes = left;
      from = kFromCgroup;
    }
  }
  out[0] = {t_s, bytes / kMiB, "MB", from, Quantity::kMemAvailable};
  return 1;
}

}  // namespace airt::governor
