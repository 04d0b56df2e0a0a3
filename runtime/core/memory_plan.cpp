#include "runtime/core/memory_plan.h"

#include <cstdio>

#include "runtime/core/arena.h"

namespace airt {

void MemoryPlan::add(std::string name, size_t bytes, RegionKind kind, std::string detail) {
  regions_.push_back({std::move(name), bytes, kind, std::move(detail)});
}

size_t MemoryPlan::arena_bytes() const {
  size_t total = 0;
  for (const Region& r : regions_)
    if (r.kind == RegionKind::kResident) total += align_up(r.bytes, Arena::kDefaultAlign);
  return total;
}

size_t MemoryPlan::mapped_bytes() const {
  size_t total = 0;
  for (const Region& r : regions_)
    if (r.kind == RegionKind::kMapped) total += r.bytes;
  return total;
}

size_t MemoryPlan::device_bytes() const {
  size_t total = 0;
  for (const Region& r : regions_)
    if (r.kind == RegionKind::kDevice) total += r.bytes;
  return total;
}

std::string format_bytes(size_t bytes) {
  char buf[32];
  if (bytes >= (size_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  else if (bytes >= (size_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
  else if (bytes >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else std::snprintf(buf, sizeof buf, "%zu B", bytes);
  return buf;
}

std::string MemoryPlan::to_string() const {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %-9s %14s  %s\n", "region", "kind", "bytes", "detail");
  out += line;
  for (const Region& r : regions_) {
    std::snprintf(line, sizeof line, "%-28s %-9s %14zu  %s%s%s\n", r.name.c_str(),
                  r.kind == RegionKind::kMapped ? "mapped" : r.kind == RegionKind::kDevice ? "device" : "resident", r.bytes,
                  format_bytes(r.bytes).c_str(), r.detail.empty() ? "" : ", ", r.detail.c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "%-28s %-9s %14zu  %s\n", "total arena", "resident", arena_bytes(),
                format_bytes(arena_bytes()).c_str());
  out += line;
  std::snprintf(line, sizeof line, "%-28s %-9s %14zu  %s\n", "total mapped", "mapped", mapped_bytes(),
                format_bytes(mapped_bytes()).c_str());
  out += line;
  if (device_bytes() > 0) {
    std::snprintf(line, sizeof line, "%-28s %-9s %14zu  %s\n", "total device", "device", device_bytes(),
                  format_bytes(device_bytes()).c_str());
    out += line;
  }
  return out;
}

}  // namespace airt
