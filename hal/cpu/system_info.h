// What the board we run on is: CPU model, cores, caches and memory, read from /proc and
// /sys at the time of the call (start-up and `airt info`, never the token loop). Fields
// that the platform does not expose stay empty or zero.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace airt::hal {

struct CacheInfo {
  int level = 0;          // 1, 2, 3
  std::string type;       // "Data", "Instruction", "Unified"
  uint64_t bytes = 0;     // per instance
  int shared_by = 0;      // logical CPUs sharing one instance
};

struct SystemInfo {
  std::string arch;        // "x86_64", "aarch64"
  std::string cpu_model;   // "Intel(R) Xeon(R) ...", "Raspberry Pi 5 Model B ...", or ""
  int logical_cpus = 0;    // CPUs this process may run on
  int physical_cores = 0;  // of those, distinct cores
  std::vector<CacheInfo> caches;  // of CPU 0, lowest level first
  uint64_t mem_total = 0;      // bytes (MemTotal)
  uint64_t mem_available = 0;  // bytes (MemAvailable)
  uint64_t cgroup_limit = 0;   // bytes (cgroup v2 memory.max), 0 = none
};

SystemInfo system_info();

// Bytes per second one streaming read over `bytes` of memory achieves with `threads`
// threads (each reads its share; best of `reps`). The buffer is allocated and freed here.
double measure_read_bandwidth(uint64_t bytes, int threads, int reps);

}  // namespace airt::hal
