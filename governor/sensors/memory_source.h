// read_memory() as a source: what this process may still use, the smaller of MemAvailable
// and the tightest cgroup v2 memory.max less memory.current on the way to the root. The
// files are found once (read_memory) and re-read in place, so a sample never allocates.
#pragma once

#include <string>
#include <vector>

#include "governor/sensors/source.h"
#include "governor/sensors/sysfs.h"

namespace airt::governor {

class MemorySource final : public Source {
 public:
  explicit MemorySource(const std::string& root = "/");
  const char* kind() const override { return "memory"; }
  size_t capacity() const override { return 1; }
  size_t read(double t_s, std::span<Sample> out) override;

 private:
  struct Group {
    SysfsAttr max, current;
  };
  SysfsAttr meminfo_;
  std::vector<Group> groups_;  // our cgroup and its ancestors
};

}  // namespace airt::governor
