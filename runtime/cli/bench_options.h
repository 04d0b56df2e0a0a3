// What `airt bench` was asked for: the command line parsed into the sweep's lists, the
// tests, and the outputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cli/bench_sweep.h"
#include "runtime/cli/common.h"

namespace airt::cli {

struct BenchOptions {
  ModelOptions mo;  // the model and the flags no axis varies (-c, -b, --mem-budget, ...)
  std::string synthetic, keep, format = "md", plot;
  std::string rows;  // --rows: step cost against rows instead of the sweep
  std::vector<std::vector<std::string>> lists;  // one per bench_axes() entry
  std::vector<BenchTest> tests;                 // pp, then tg, then pp+tg, as llama-bench
  int32_t reps = 5;
  bool membw = false;
  bool profile = false;  // --profile: per-op device times (timestamps only then)
  int32_t membw_mib = 256;
};

// Parses the command line; returns -1 to go on, else the exit status (help, usage error).
int parse_bench(int argc, char** argv, BenchOptions& o);

}  // namespace airt::cli
