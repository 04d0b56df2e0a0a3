// What the model-using subcommands share: the model/context flags, loading a model
// with its memory plan checked against the budget, and turning an error into a message
// and an exit status.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/cli/draft_options.h"
#include "runtime/core/args.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"
#include "runtime/engine/memory_budget.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "runtime/text/tokenizer.h"

namespace airt::cli {

struct ModelOptions {
  std::string model_path;
  int32_t threads = 0;  // 0 = physical cores
  int32_t n_ctx = 0;    // 0: min(n_ctx_train, 2048)
  int32_t n_batch = 512;  // prompt tokens one step evaluates at most
  bool mlock = false;
  bool no_repack = false;  // --no-repack: the CPU multiplies the mapped rows as they are
  model::KvTypes kv_types;
  int32_t kv_block = 16;
  int32_t window = 0;
  int32_t sinks = 0;
  bool print_plan = false;
  int64_t mem_budget_mib = 0;  // 0: 90% of what the system / cgroup allows
  const hal::Kernels* kernels = nullptr;  // null: the best this CPU runs ($AIRT_CPU_ISA overrides)
  DraftOptions draft;                     // --draft, --draft-max, --draft-len
  // Further files of the same model at other quantizations (weight tiers), all mapped.
  std::vector<std::string> ladder;
  std::string tier;  // the tier to start on (name, file or index); empty: the first, -m
  // Where the forward pass runs: "cpu", "vulkan" (forced: an error when the device or a
  // feature is missing) or "auto" (measured at start-up, the faster wins; CPU-type
  // Vulkan devices are never candidates).
  std::string backend = "cpu";
  int32_t gpu = -1;  // --gpu N: the Vulkan device index; -1: the first usable one
  // --gpu-layers N (-ngl N): the last N layers and the output head on the Vulkan device,
  // the embeddings and the layers before them on the CPU (model/split_backend.h); -1: all
  // on the device. N > 0 needs --backend vulkan or auto (refused with cpu).
  int32_t gpu_layers = -1;
  // --backend-fallback cpu|none: on vulkan, also plan a CPU backend over the same KV pool,
  // which the governor may move to and a lost device falls back to (engine.h, "Backends").
  // --backend auto plans it whenever it chooses vulkan; with vulkan forced it is off unless
  // asked for; on the cpu it means nothing.
  std::string backend_fallback;  // "", "cpu" or "none"

  // Handles -m/--model, -t/--threads, -c/--ctx, -b/--batch, --mlock, --no-repack, --print-plan,
  // --kv-type, --kv-block, --window, --sinks, --mem-budget, --ladder A[,B...]
  // (repeatable), --tier NAME, --backend auto|cpu|vulkan, --backend-fallback cpu|none, --gpu N, --gpu-layers N
  // and the
  // draft flags.
  bool parse(Args& a);
  // A one-slot engine for these options (kernels and threads resolved by load_model()).
  engine::EngineConfig engine_config() const;
};

// The settings a plan is built from; the budget check varies them to say what fits.
struct PlanSettings {
  int32_t n_ctx = 0;
  int32_t n_slots = 1;
  model::KvTypes kv;
  size_t kv_bytes_per_position = 0;  // for the message; 0: not said
};
using Planner = std::function<Result<MemoryPlan>(const PlanSettings&)>;

// The budget: --mem-budget, else 90% of MemAvailable / cgroup memory.max.
Result<engine::MemoryBudget> memory_budget(const ModelOptions& o);
// kResourceOverBudget when `plan` does not fit: the message names the largest regions and
// the nearest settings that fit ("--ctx 1024 fits"), found by re-planning.
Status check_budget(const MemoryPlan& plan, const engine::MemoryBudget& budget, const PlanSettings& now,
                    const Planner& replan);

struct LoadedModel {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<text::Tokenizer> tok;
  std::unique_ptr<engine::Engine> engine;  // declared last: uses both
  double load_ms = 0;
};

// Maps the model, the tiers of --ladder (each checked to be the same model: the first
// difference is named) and the vocabulary, plans the engine `c` (threads o.threads, 0 =
// physical cores; the best kernels this CPU runs), checks the plan against the budget
// (nothing is allocated when it does not fit), prints it with --print-plan, then creates
// the engine, starting on --tier.
Result<LoadedModel> load_model(const ModelOptions& o, engine::EngineConfig c);
// Adds the files of o.ladder to `m` as weight tiers.
Status add_ladder(model::Model& m, const ModelOptions& o);
// The tier `name` names: a tier's type name ("q4_0"; the first such tier), its file path
// or file name, or its index. kRequestInvalid listing the tiers when none matches.
Result<int32_t> find_tier(const model::Model& m, const std::string& name);
// The same engine set-up for a model already loaded (bench runs several engines on one).
Result<std::unique_ptr<engine::Engine>> make_engine(const ModelOptions& o, const model::Model& m,
                                                    const text::Tokenizer& tok, engine::EngineConfig c);

// Prints "airt: <message>" to stderr; returns 2 for errors in what the user asked for
// (out-of-range values, a prompt longer than the context), 1 otherwise.
int report(const ErrorInfo& e);

}  // namespace airt::cli
