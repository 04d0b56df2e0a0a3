// The memory budget a plan must fit: by default 90% of what this process may still use —
// the smaller of MemAvailable and, under cgroup v2, memory.max less memory.current (read
// by governor/sensors/memory.h). Start-up code.
#pragma once

#include <cstddef>
#include <string>

#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"

namespace airt::engine {

struct MemoryBudget {
  size_t bytes = 0;
  std::string source;  // "90% of MemAvailable (21.9 GiB)", "--mem-budget 512 MiB"
};

// 90% of `available` bytes, which `what` names ("MemAvailable", "cgroup memory.max less
// memory.current"); the caller reads them (governor/sensors/memory.h).
MemoryBudget memory_budget_of(size_t available, const std::string& what);
// `mib` MiB given by the user.
MemoryBudget memory_budget_fixed(size_t mib);

// What the plan costs against a budget: resident arena plus mapped weights (pages the
// model reads every token, so they must stay in memory too).
size_t plan_cost(const MemoryPlan& plan);

// "the plan needs 3.20 GiB, over the budget of 1.00 GiB (--mem-budget 1024); largest
// regions: kv cache 2.00 GiB, weights 1.10 GiB, activations 48.0 MiB". Empty when it fits.
std::string over_budget_message(const MemoryPlan& plan, const MemoryBudget& budget);

}  // namespace airt::engine
