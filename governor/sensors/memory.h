// Memory headroom as the kernel reports it: /proc/meminfo, the cgroup v2 limits of the
// process's own cgroup, and memory pressure (PSI). Every path is read under a root
// directory so tests can point it at a recorded tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/core/result.h"

namespace airt::governor {

struct MemoryReading {
  uint64_t mem_total = 0;       // bytes, /proc/meminfo MemTotal
  uint64_t mem_available = 0;   // bytes, /proc/meminfo MemAvailable
  std::optional<uint64_t> cgroup_max;      // bytes, memory.max of our cgroup (absent: "max" or no cgroup v2)
  std::optional<uint64_t> cgroup_current;  // bytes, memory.current
  std::optional<uint64_t> cgroup_left;     // bytes, the least memory.max - memory.current of our group and its ancestors
  std::optional<double> psi_some_avg10;    // % of time some task stalled on memory, last 10 s
  std::string cgroup_path;                 // e.g. "/system.slice/airt.service"

  // What this process may still use: the smaller of MemAvailable and the cgroup's
  // remaining allowance (memory.max - memory.current).
  uint64_t headroom() const;
  // Which of the two headroom() took: "MemAvailable" or "cgroup memory.max less memory.current".
  const char* headroom_source() const;
  // What a process starting now may plan for: the smaller of MemAvailable and memory.max.
  uint64_t allowance() const;
};

// Reads the files under `root` ("/" on a live system). Fails only when /proc/meminfo
// cannot be read or parsed; cgroup and PSI values are optional.
Result<MemoryReading> read_memory(const std::string& root = "/");

}  // namespace airt::governor
