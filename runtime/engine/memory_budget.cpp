#include "runtime/engine/memory_budget.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace airt::engine {
namespace {

// A value in bytes from a one-line file ("max" or a number); false when absent or "max".
bool read_limit(const std::string& path, size_t& out) {
  std::ifstream in(path);
  std::string v;
  if (!(in >> v) || v == "max") return false;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (*end) return false;
  out = size_t(n);
  return true;
}

}  // namespace

Result<MemoryBudget> memory_budget_detect(const std::string& root) {
  std::ifstream mi(root + "/proc/meminfo");
  if (!mi) return errorf(Error::kIoNotFound, "%s/proc/meminfo: cannot read it (give --mem-budget MB)", root.c_str());
  size_t avail = 0;
  bool have = false;
  std::string line;
  while (std::getline(mi, line)) {
    unsigned long long kb;
    if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kb) == 1) {
      avail = size_t(kb) * 1024;
      have = true;
      break;
    }
  }
  if (!have) return errorf(Error::kFormatInvalid, "%s/proc/meminfo has no MemAvailable (give --mem-budget MB)", root.c_str());
  char buf[96];
  std::snprintf(buf, sizeof buf, "MemAvailable %s", format_bytes(avail).c_str());
  std::string source = buf;
  size_t limit = avail;

  // cgroup v2: the line "0::/path" of /proc/self/cgroup names our group.
  std::ifstream cg(root + "/proc/self/cgroup");
  std::string group;
  while (std::getline(cg, line))
    if (line.rfind("0::", 0) == 0) group = line.substr(3);
  // Walk from our group up to the root: any ancestor's limit binds us too.
  for (std::string g = group; !group.empty();) {
    std::string dir = root + "/sys/fs/cgroup" + (g == "/" ? "" : g);
    size_t max = 0, cur = 0;
    if (read_limit(dir + "/memory.max", max)) {
      read_limit(dir + "/memory.current", cur);
      size_t left = max > cur ? max - cur : 0;
      if (left < limit) {
        limit = left;
        std::snprintf(buf, sizeof buf, "cgroup memory.max %s less memory.current %s", format_bytes(max).c_str(),
                      format_bytes(cur).c_str());
        source = buf;
      }
    }
    if (g == "/" || g.empty()) break;
    size_t slash = g.rfind('/');
    g = slash == 0 ? "/" : g.substr(0, slash);
  }
  MemoryBudget b;
  b.bytes = limit / 10 * 9;
  b.source = "90% of " + source;
  return b;
}

MemoryBudget memory_budget_fixed(size_t mib) {
  MemoryBudget b;
  b.bytes = mib << 20;
  b.source = "--mem-budget " + std::to_string(mib);
  return b;
}

size_t plan_cost(const MemoryPlan& plan) { return plan.arena_bytes() + plan.mapped_bytes(); }

std::string over_budget_message(const MemoryPlan& plan, const MemoryBudget& budget) {
  const size_t cost = plan_cost(plan);
  if (cost <= budget.bytes) return {};
  std::vector<const Region*> rs;
  for (const Region& r : plan.regions()) rs.push_back(&r);
  std::stable_sort(rs.begin(), rs.end(), [](const Region* a, const Region* b) { return a->bytes > b->bytes; });
  std::string msg = "the memory plan needs " + format_bytes(cost) + ", over the budget of " +
                    format_bytes(budget.bytes) + " (" + budget.source + "); largest regions: ";
  for (size_t i = 0; i < rs.size() && i < 3; ++i) {
    if (i) msg += ", ";
    msg += rs[i]->name + " " + format_bytes(rs[i]->bytes);
  }
  return msg;
}

}  // namespace airt::engine
