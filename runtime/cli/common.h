// What the model-using subcommands share: the model/context flags, loading a model
// with its memory plan checked against the budget, and turning an error into a message
// and an exit status.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "hal/cpu/thread_pool.h"
#include "runtime/core/arena.h"
#include "runtime/core/args.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"
#include "runtime/engine/memory_budget.h"
#include "runtime/model/context.h"
#include "runtime/model/model.h"

namespace airt::cli {

struct ModelOptions {
  std::string model_path;
  int32_t threads = 0;  // 0 = physical cores
  model::ContextParams ctx;
  bool print_plan = false;
  int64_t mem_budget_mib = 0;  // 0: 90% of what the system / cgroup allows

  // Handles -m/--model, -t/--threads, -c/--ctx, -b/--batch, --mlock, --print-plan,
  // --kv-type, --kv-block, --window, --sinks, --mem-budget.
  bool parse(Args& a);
};

// The settings a plan is built from; the budget check varies them to say what fits.
struct PlanSettings {
  int32_t n_ctx = 0;
  int32_t n_slots = 1;
  model::KvTypes kv;
};
using Planner = std::function<Result<MemoryPlan>(const PlanSettings&)>;

// The budget: --mem-budget, else 90% of MemAvailable / cgroup memory.max.
Result<engine::MemoryBudget> memory_budget(const ModelOptions& o);
// kResourceOverBudget when `plan` does not fit: the message names the largest regions and
// the nearest settings that fit ("--ctx 1024 fits"), found by re-planning.
Status check_budget(const MemoryPlan& plan, const engine::MemoryBudget& budget, const PlanSettings& now,
                    const Planner& replan);

struct LoadedModel {
  Arena pool_scratch;                     // the pool's thread scratch (attached to it)
  std::unique_ptr<hal::ThreadPool> pool;  // declared first: outlives ctx, which uses it
  std::unique_ptr<model::Model> model;
  std::unique_ptr<model::Context> ctx;
  double load_ms = 0;
};

// Maps the model, plans the context, checks the budget (nothing is allocated when it does
// not fit), then creates the context on a pool of o.threads threads (0 = physical cores)
// with the best kernels this CPU runs ($AIRT_CPU_ISA overrides).
Result<LoadedModel> load_model(const ModelOptions& o);

// Prints "airt: <message>" to stderr; returns 2 for errors in what the user asked for
// (out-of-range values, a prompt longer than the context), 1 otherwise.
int report(const ErrorInfo& e);

}  // namespace airt::cli
