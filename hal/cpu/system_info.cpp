#include "hal/cpu/system_info.h"

#include <sched.h>
#include <sys/utsname.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "hal/cpu/thread_pool.h"

namespace airt::hal {
namespace {

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// "48K", "2048K", "1M" as sysfs writes cache sizes.
uint64_t parse_size(const std::string& s) {
  char* end = nullptr;
  uint64_t v = std::strtoull(s.c_str(), &end, 10);
  if (end && (*end == 'K' || *end == 'k')) v <<= 10;
  if (end && (*end == 'M' || *end == 'm')) v <<= 20;
  return v;
}

// Number of CPUs in a sysfs list such as "0-3,8".
int count_cpu_list(const std::string& s) {
  int n = 0;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    int a = 0, b = 0;
    if (std::sscanf(part.c_str(), "%d-%d", &a, &b) == 2) n += b - a + 1;
    else if (!part.empty()) ++n;
  }
  return n;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    // x86: "model name"; some ARM kernels: "Model" (the board) or "Hardware".
    for (const char* key : {"model name", "Model", "Hardware"}) {
      if (line.rfind(key, 0) != 0) continue;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      if (!v.empty()) return v;
    }
  }
  // Device-tree boards name themselves here (NUL-terminated).
  std::string dt = read_line("/proc/device-tree/model");
  return dt.c_str();
}

}  // namespace

SystemInfo system_info() {
  SystemInfo s;
  utsname u{};
  if (uname(&u) == 0) s.arch = u.machine;
  s.cpu_model = cpu_model();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) s.logical_cpus = CPU_COUNT(&set);
  s.physical_cores = physical_cores();
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = read_line(dir + "level");
    if (level.empty()) break;
    CacheInfo c;
    c.level = std::atoi(level.c_str());
    c.type = read_line(dir + "type");
    c.bytes = parse_size(read_line(dir + "size"));
    c.shared_by = count_cpu_list(read_line(dir + "shared_cpu_list"));
    s.caches.push_back(c);
  }
  std::ifstream mi("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (mi >> key >> kb) {
    std::getline(mi, unit);
    if (key == "MemTotal:") s.mem_total = kb << 10;
    if (key == "MemAvailable:") s.mem_available = kb << 10;
  }
  const std::string max = read_line("/sys/fs/cgroup/memory.max");
  if (!max.empty() && max != "max") s.cgroup_limit = std::strtoull(max.c_str(), nullptr, 10);
  return s;
}

double measure_read_bandwidth(uint64_t bytes, int threads, int reps) {
  bytes &= ~uint64_t(4095);
  auto* buf = static_cast<uint64_t*>(std::aligned_alloc(4096, bytes));
  if (!buf || threads < 1) {
    std::free(buf);
    return 0;
  }
  std::memset(buf, 1, bytes);  // fault every page in before timing
  auto pool = ThreadPool::create(threads);
  if (!pool.ok()) {
    std::free(buf);
    return 0;
  }
  const int64_t words = int64_t(bytes / 8);
  uint64_t sink[64] = {};
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    auto read = [&](int ith, int nth) {
      int64_t b, e;
      split_range(words, ith, nth, 512, b, e);
      // Eight independent sums: the loop is bound by loads, and the compiler vectorizes it.
      // The stream is prefetched 2 KiB ahead, as the matrix kernels do, so the figure is
      // what they can reach rather than what the hardware prefetcher alone sustains.
      uint64_t s[8] = {};
      for (int64_t i = b; i + 8 <= e; i += 8) {
        __builtin_prefetch(buf + i + 256);
        for (int j = 0; j < 8; ++j) s[j] += buf[i + j];
      }
      sink[ith % 64] += s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    };
    const auto t0 = std::chrono::steady_clock::now();
    (*pool)->parallel(read);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sec > 0 && double(bytes) / sec > best) best = double(bytes) / sec;
  }
  std::free(buf);
  volatile uint64_t keep = sink[0];
  (void)keep;
  return best;
}

}  // namespace airt::hal
