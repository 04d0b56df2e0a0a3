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
std::string find_pi_flags(const std::string& root) {
  std::string documented = sysfs_path(root, "/sys/devices/platform/soc/soc:firmware/get_throttled");
  std::error_code ec;
  if (fs::exists(documented, ec)) return documented;
  for (const auto& soc : fs::directory_iterator(sysfs_path(root, "/sys/devices/platform"), ec)) {
    if (soc.path().filename().string().rfind("soc", 0) != 0) continue;
    std::error_code ec2;
    for (const auto& fw : fs::directory_iterator(soc.path(), ec2)) {
      const std::string n = fw.path().filename().string();
      if (n.size() < 9 || n.compare(n.size() - 9, 9, ":firmware") != 0) continue;
      if (fs::exists(fw.path() / "get_throttled", ec2))
        return (fw.path() / "get_throttled").string();
    }
  }
  return {};
}

}  // namespace

bool CpuReading::throttled() const {
  if (cur_mhz && max_mhz && *cur_mhz < kThrottledBelow * *max_mhz) return true;
  return throttled_flags && (*throttled_flags & (kPiFreqCapped | kPiThrottled)) != 0;
}

CpuSource::CpuSource(const std::string& root) {
  std::vector<std::string> cpus;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(sysfs_path(root, "/sys/devices/system/cpu"), ec)) {
    if (is_cpu_dir(e.path().filename().string())) cpus.push_back((e.path() / "cpufreq").string());
  }
  for (const std::string& c : cpus) {
    SysfsAttr cur(c + "/scaling_cur_freq"), max(c + "/cpuinfo_max_freq");
    if (!cur.is_open() && !max.is_open()) continue;
    cur_.push_back(std::move(cur));
    max_.push_back(std::move(max));
  }
  if (std::string f = find_pi_flags(root); !f.empty()) flags_ = SysfsAttr(f);
  if (cur_.empty() && !flags_.is_open()) {
    absent_ = "no cpufreq under " + sysfs_path(root, "/sys/devices/system/cpu") +
              " and no Raspberry Pi get_throttled";
  }
}

CpuReading CpuSource::reading() const {
  CpuReading r;
  for (size_t i = 0; i < cur_.size(); ++i) {
    take_max(r.cur_mhz, cur_[i].read_int());
    take_max(r.max_mhz, max_[i].read_int());
  }
  if (auto flags = flags_.read_int(16); flags && *flags >= 0) r.throttled_flags = uint32_t(*flags);
  return r;
}

size_t CpuSource::read(double t_s, std::span<Sample> out) {
  const CpuReading r = reading();
  size_t n = 0;
  if (r.cur_mhz && n < out.size())
    out[n++] = {t_s, *r.cur_mhz, "MHz", "cpufreq", Quantity::kCpuFreq};
  if (r.max_mhz && n < out.size())
    out[n++] = {t_s, *r.max_mhz, "MHz", "cpufreq", Quantity::kCpuMaxFreq};
  if (r.throttled_flags && n < out.size()) {
    out[n++] = {t_s, double(*r.throttled_flags), "flags", "get_throttled",
                Quantity::kThrottledFlags};
  }
  return n;
}

CpuReading read_cpu(const std::string& root) { return CpuSource(root).reading(); }

}  // namespace airt::governor
