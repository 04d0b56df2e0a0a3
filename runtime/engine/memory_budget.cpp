#include "runtime/engine/memory_budget.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace airt::engine {
MemoryBudget memory_budget_of(size_t available, const std::string& what) {
  MemoryBudget b;
  b.bytes = available / 10 * 9;
  b.source = "90% of " + what + " " + format_bytes(available);
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
