#include "governor/sensors/memory.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "runtime/core/file.h"

namespace airt::governor {
namespace {

std::string join(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  return (root.back() == '/' ? root.substr(0, root.size() - 1) : root) + path;
}

// "MemAvailable:   123456 kB" -> bytes.
std::optional<uint64_t> meminfo_field(const std::string& text, const char* key) {
  std::istringstream in(text);
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream ls(line.substr(prefix.size()));
    uint64_t v = 0;
    std::string unit;
    if (!(ls >> v)) return std::nullopt;
    ls >> unit;
    return unit == "kB" ? v * 1024 : v;
  }
  return std::nullopt;
}

std::optional<uint64_t> read_u64_file(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return std::nullopt;
  const std::string& t = *text;
  if (t.rfind("max", 0) == 0) return std::nullopt;  // unlimited
  char* end = nullptr;
  unsigned long long v = std::strtoull(t.c_str(), &end, 10);
  if (end == t.c_str()) return std::nullopt;
  return v;
}

}  // namespace

uint64_t MemoryReading::headroom() const {
  return cgroup_left && *cgroup_left < mem_available ? *cgroup_left : mem_available;
}

const char* MemoryReading::headroom_source() const {
  return headroom() < mem_available ? "cgroup memory.max less memory.current" : "MemAvailable";
}

uint64_t MemoryReading::allowance() const {
  uint64_t a = mem_available;
  if (cgroup_max && *cgroup_max < a) a = *cgroup_max;
  return a;
}

Result<MemoryReading> read_memory(const std::string& root) {
  MemoryReading r;
  const std::string meminfo_path = join(root, "/proc/meminfo");
  std::string meminfo = AIRT_TRY(read_file(meminfo_path));
  auto total = meminfo_field(meminfo, "MemTotal");
  auto avail = meminfo_field(meminfo, "MemAvailable");
  if (!avail) {
    return errorf(Error::kFormatInvalid, "%s: no MemAvailable line (kernel older than 3.14?)", meminfo_path.c_str());
  }
  r.mem_total = total.value_or(0);
  r.mem_available = *avail;

  // cgroup v2: /proc/self/cgroup has the single line "0::/path".
  if (auto cg = read_file(join(root, "/proc/self/cgroup")); cg.ok()) {
    std::istringstream in(*cg);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("0::", 0) == 0) r.cgroup_path = line.substr(3);
    }
  }
  if (!r.cgroup_path.empty()) {
    // The limit that binds may be set on any ancestor: take the smallest on the way up.
    std::string path = r.cgroup_path;
    const std::string base = join(root, "/sys/fs/cgroup");
    bool first = true;
    while (true) {
      std::string dir = base + (path == "/" ? "" : path);
      if (auto mx = read_u64_file(dir + "/memory.max")) {
        // Usage anywhere under an ancestor counts against that ancestor's limit.
        const uint64_t used = read_u64_file(dir + "/memory.current").value_or(0);
        const uint64_t left = *mx > used ? *mx - used : 0;
        if (!r.cgroup_max || *mx < *r.cgroup_max) r.cgroup_max = mx;
        if (!r.cgroup_left || left < *r.cgroup_left) r.cgroup_left = left;
      }
      if (first) {
        r.cgroup_current = read_u64_file(dir + "/memory.current");
        if (auto psi = read_file(dir + "/memory.pressure"); psi.ok()) {
          double v;
          if (std::sscanf(psi->c_str(), "some avg10=%lf", &v) == 1) r.psi_some_avg10 = v;
        }
        first = false;
      }
      if (path == "/" || path.empty()) break;
      size_t slash = path.find_last_of('/');
      path = slash == 0 ? "/" : path.substr(0, slash);
    }
  }
  if (!r.psi_some_avg10) {
    if (auto psi = read_file(join(root, "/proc/pressure/memory")); psi.ok()) {
      double v;
      if (std::sscanf(psi->c_str(), "some avg10=%lf", &v) == 1) r.psi_some_avg10 = v;
    }
  }
  return r;
}

}  // namespace airt::governor
