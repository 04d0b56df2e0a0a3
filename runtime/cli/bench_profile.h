// airt bench --profile: a row's device time per op kind (the backend's timestamps over the
// measured repetitions) as a table after the rows (md) or a "profile" array per row (json).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace airt::cli {

struct BenchOp {
  std::string op;           // "matvec q4_0", "attention", ...
  double calls_per_token = 0;
  double ms_per_token = 0;
  double percent = 0;       // of the step's device time (the ops' sum)
};

// (op, calls, ms) over `rows` evaluated rows -> per token, by time, largest first.
struct BenchOpTotal {
  std::string op;
  int64_t calls = 0;
  double ms = 0;
};
std::vector<BenchOp> bench_profile_ops(const std::vector<BenchOpTotal>& totals, int64_t rows);

// The JSON array of a row's profile.
std::string bench_profile_json(const std::vector<BenchOp>& ops);
// The markdown table of one row's profile, headed by `title`.
void print_bench_profile(const std::string& title, const std::vector<BenchOp>& ops);

}  // namespace airt::cli
