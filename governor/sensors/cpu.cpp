#include "governor/sensors/cpu.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "governor/sensors/sysfs.h"

namespace airt::governor {
namespace {

namespace fs = std::filesystem;

constexpr double kThrottledBelow = 0.97;  // of the maximum: cpufreq steps are coarser than 3%

// "cpu0", "cpu12": not "cpufreq", "cpuidle".
bool is_cpu_dir(const std::string& n) {
  return n.size() > 3 && n.rfind("cpu", 0) == 0 &&
         std::all_of(n.begin() + 3, n.end(), [](unsigned char c) { return std::isdigit(c); });
}

void take_max(std::optional<double>& into, std::optional<long long> khz) {
  if (!khz || *khz <= 0) return;
  double mhz = double(*khz) / 1000.0;
  if (!into || mhz > *into) into = mhz;
}

// The documented path first; Pi 5 kernels name the soc node by its address
// (soc@107c000000), so any platform node's *:firmware/get_throttled is accepted too.
std::optional<long long> read_pi_flags(const std::string& root) {
  if (auto v = sysfs_read_int(sysfs_path(root, "/sys/devices/platform/soc/soc:firmware/get_throttled"), 16)) return v;
  std::error_code ec;
  for (const auto& soc : fs::directory_iterator(sysfs_path(root, "/sys/devices/platform"), ec)) {
    if (soc.path().filename().string().rfind("soc", 0) != 0) continue;
    std::error_code ec2;
    for (const auto& fw : fs::directory_iterator(soc.path(), ec2)) {
      const std::string n = fw.path().filename().string();
      if (n.size() < 9 || n.compare(n.size() - 9, 9, ":firmware") != 0) continue;
      if (auto v = sysfs_read_int((fw.path() / "get_throttled").string(), 16)) return v;
    }
  }
  return std::nullopt;
}

}  // namespace

bool CpuReading::throttled() const {
  if (cur_mhz && max_mhz && *cur_mhz < kThrottledBelow * *max_mhz) return true;
  return throttled_flags && (*throttled_flags & (kPiFreqCapped | kPiThrottled)) != 0;
}

CpuReading read_cpu(const std::string& root) {
  CpuReading r;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(sysfs_path(root, "/sys/devices/system/cpu"), ec)) {
    if (!is_cpu_dir(e.path().filename().string())) continue;
    const fs::path freq = e.path() / "cpufreq";
    take_max(r.cur_mhz, sysfs_read_int((freq / "scaling_cur_freq").string()));
    take_max(r.max_mhz, sysfs_read_int((freq / "cpuinfo_max_freq").string()));
  }
  if (auto flags = read_pi_flags(root); flags && *flags >= 0) r.throttled_flags = uint32_t(*flags);
  return r;
}

}  // namespace airt::governor
