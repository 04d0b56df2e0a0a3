#include "runtime/cli/bench_profile.h"

#include <algorithm>
#include <cstdio>

#include "runtime/service/json_util.h"

namespace airt::cli {

std::vector<BenchOp> bench_profile_ops(const std::vector<BenchOpTotal>& totals, int64_t rows) {
  double total_ms = 0;
  for (const BenchOpTotal& t : totals) total_ms += t.ms;
  std::vector<BenchOp> ops;
  if (rows <= 0) return ops;
  for (const BenchOpTotal& t : totals)
    ops.push_back({t.op, double(t.calls) / double(rows), t.ms / double(rows),
                   total_ms > 0 ? 100.0 * t.ms / total_ms : 0.0});
  std::stable_sort(ops.begin(), ops.end(),
                   [](const BenchOp& a, const BenchOp& b) { return a.ms_per_token > b.ms_per_token; });
  return ops;
}

std::string bench_profile_json(const std::vector<BenchOp>& ops) {
  std::string s = "[";
  char b[160];
  for (const BenchOp& o : ops) {
    if (s.size() > 1) s += ", ";
    s += "{\"op\": ";
    service::json_append_string(s, o.op);
    std::snprintf(b, sizeof b, ", \"calls_per_token\": %.4f, \"ms_per_token\": %.6f, \"percent\": %.2f}",
                  o.calls_per_token, o.ms_per_token, o.percent);
    s += b;
  }
  return s + "]";
}

void print_bench_profile(const std::string& title, const std::vector<BenchOp>& ops) {
  std::printf("\n%s\n\n| op | calls/token | ms/token | %% of step |\n|---|---:|---:|---:|\n", title.c_str());
  for (const BenchOp& o : ops)
    std::printf("| %s | %.3f | %.4f | %.1f |\n", o.op.c_str(), o.calls_per_token, o.ms_per_token, o.percent);
}

}  // namespace airt::cli
