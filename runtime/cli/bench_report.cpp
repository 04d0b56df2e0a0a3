#include "runtime/cli/bench_report.h"

#include <cmath>
#include <cstdio>

#include "runtime/core/memory_plan.h"
#include "runtime/service/json_util.h"

namespace airt::cli {
namespace {

// RFC 4180: a field holding a comma, quote or line break is quoted, quotes doubled.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string f = "\"";
  for (char c : s) {
    if (c == '"') f += '"';
    f += c;
  }
  return f + "\"";
}

void print_json(const BenchInfo& in, const std::vector<BenchRow>& rows) {
  std::string quoted;  // the model name as a JSON string: a path may hold quotes
  service::json_append_string(quoted, in.model);
  std::printf("[\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    std::printf("  {\"model\": %s, \"model_type\": \"%s\", \"model_bytes\": %zu, "
                "\"test\": \"%s\", \"n_threads\": %d, \"isa\": \"%s\", \"n_slots\": %d, \"t_s_mean\": %.3f, "
                "\"t_s_stdev\": %.3f}%s\n",
                quoted.c_str(), in.type, in.model_bytes, rows[i].test.c_str(), in.threads, in.isa, rows[i].n_slots,
                rows[i].mean, rows[i].stdev, i + 1 < rows.size() ? "," : "");
  }
  std::printf("]\n");
}

}  // namespace

void bench_summarize(BenchRow& r) {
  double s = 0;
  for (double v : r.ts) s += v;
  r.mean = s / double(r.ts.size());
  double var = 0;
  for (double v : r.ts) var += (v - r.mean) * (v - r.mean);
  r.stdev = r.ts.size() > 1 ? std::sqrt(var / double(r.ts.size() - 1)) : 0;
}

void print_bench_report(const std::string& format, const BenchInfo& in, const std::vector<BenchRow>& rows) {
  if (format == "json") return print_json(in, rows);
  if (format == "csv") {
    const std::string field = csv_field(in.model);
    std::printf("model,model_type,model_bytes,test,n_threads,isa,n_slots,t_s_mean,t_s_stdev\n");
    for (auto& r : rows)
      std::printf("%s,%s,%zu,%s,%d,%s,%d,%.3f,%.3f\n", field.c_str(), in.type, in.model_bytes, r.test.c_str(),
                  in.threads, in.isa, r.n_slots, r.mean, r.stdev);
    return;
  }
  std::printf("| model | type | size | threads | isa | slots | test | t/s |\n|---|---|---|---|---|---|---|---|\n");
  for (auto& r : rows)
    std::printf("| %s | %s | %s | %d | %s | %d | %s | %.2f ± %.2f |\n", in.model.c_str(), in.type,
                format_bytes(in.model_bytes).c_str(), in.threads, in.isa, r.n_slots, r.test.c_str(), r.mean,
                r.stdev);
}

}  // namespace airt::cli
