// What the model-using subcommands share: the model/context flags, loading a model
// with its memory plan, and turning an error into a message and an exit status.
#pragma once

#include <memory>
#include <string>

#include "hal/cpu/thread_pool.h"
#include "runtime/cli/args.h"
#include "runtime/core/result.h"
#include "runtime/model/context.h"
#include "runtime/model/model.h"

namespace airt::cli {

struct ModelOptions {
  std::string model_path;
  int32_t threads = 0;  // 0 = physical cores
  model::ContextParams ctx;
  bool print_plan = false;

  // Handles -m/--model, -t/--threads, -c/--ctx, -b/--batch, --mlock, --print-plan.
  bool parse(Args& a);
};

struct LoadedModel {
  std::unique_ptr<hal::ThreadPool> pool;  // declared first: outlives ctx, which uses it
  std::unique_ptr<model::Model> model;
  std::unique_ptr<model::Context> ctx;
  double load_ms = 0;
};

// Loads the model and creates its context on a pool of o.threads threads (0 = physical
// cores) with the best kernels this CPU runs ($AIRT_CPU_ISA overrides).
Result<LoadedModel> load_model(const ModelOptions& o);

// Prints "airt: <message>" to stderr; returns 2 for errors in what the user asked for
// (out-of-range values, a prompt longer than the context), 1 otherwise.
int report(const ErrorInfo& e);

}  // namespace airt::cli
