#include "runtime/cli/bench_rows.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "runtime/core/clock.h"
#include "runtime/core/memory_plan.h"
#include "runtime/service/json_util.h"

namespace airt::cli {
namespace {

struct RowsSink : engine::Sink {
  ErrorInfo error;
  bool failed = false;
  void on_token(engine::Ticket, int32_t, std::string_view) override {}
  void on_finish(engine::Ticket, const engine::Finish&) override {}
  void on_error(engine::Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

// Milliseconds of one prompt step of ids.size() tokens (n_batch holds them all, so the
// engine evaluates them in one forward pass).
Result<double> step_ms(engine::Engine& e, const std::vector<int32_t>& ids) {
  engine::Request r;
  r.prompt_tokens = ids;
  r.prompt_only = true;
  RowsSink sink;
  const double t0 = now_ms();
  AIRT_TRY(e.submit(1, r));
  while (e.step(sink)) {
  }
  if (sink.failed) return sink.error;
  return now_ms() - t0;
}

struct RowsResult {
  int32_t rows;
  double ms;  // median over the repetitions
};

// Median of the reps timings after one warm-up step.
Result<double> median_step_ms(engine::Engine& e, int32_t rows, int32_t reps) {
  std::vector<int32_t> ids(static_cast<size_t>(rows), 0);
  for (int32_t i = 0; i < rows; ++i) ids[size_t(i)] = int32_t((i * 7919 + 13) % e.n_vocab());
  AIRT_TRY(step_ms(e, ids));  // pages the weights in and settles the caches
  std::vector<double> ms;
  for (int32_t i = 0; i < reps; ++i) ms.push_back(AIRT_TRY(step_ms(e, ids)));
  std::sort(ms.begin(), ms.end());
  const size_t m = ms.size() / 2;
  return ms.size() % 2 ? ms[m] : (ms[m - 1] + ms[m]) / 2;
}

void print_rows(const std::string& format, const std::string& model, const engine::Engine& e, double one,
                const std::vector<RowsResult>& res) {
  const int threads = e.backend().max_threads();
  const char* isa = e.config().kernels->isa;
  if (format == "json") {
    std::string quoted;
    service::json_append_string(quoted, model);
    std::printf("[\n");
    for (size_t i = 0; i < res.size(); ++i) {
      const auto& r = res[i];
      std::printf("  {\"model\": %s, \"test\": \"rows\", \"n_threads\": %d, \"isa\": \"%s\", \"rows\": %d, "
                  "\"ms_step\": %.3f, \"ms_row\": %.3f, \"ratio\": %.3f}%s\n",
                  quoted.c_str(), threads, isa, r.rows, r.ms, r.ms / r.rows, r.ms / one,
                  i + 1 < res.size() ? "," : "");
    }
    std::printf("]\n");
    return;
  }
  if (format == "csv") {
    std::string field = "\"";  // RFC 4180: quoted, quotes doubled
    for (char c : model) field += c == '"' ? std::string("\"\"") : std::string(1, c);
    field += '"';
    std::printf("model,test,n_threads,isa,rows,ms_step,ms_row,ratio\n");
    for (const auto& r : res)
      std::printf("%s,rows,%d,%s,%d,%.3f,%.3f,%.3f\n", field.c_str(), threads, isa, r.rows, r.ms, r.ms / r.rows,
                  r.ms / one);
    return;
  }
  std::printf("| model | threads | isa | rows | ms/step | ms/row | x 1-row |\n|---|---|---|---|---|---|---|\n");
  for (const auto& r : res)
    std::printf("| %s | %d | %s | %d | %.2f | %.2f | %.2f |\n", model.c_str(), threads, isa, r.rows, r.ms,
                r.ms / r.rows, r.ms / one);
}

}  // namespace

std::vector<int32_t> parse_bench_rows(const std::string& text) {
  std::vector<int32_t> out;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = text.find(',', at);
    const std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    char* end = nullptr;
    const long lo = std::strtol(item.c_str(), &end, 10);
    long hi = lo;
    if (*end == '-') hi = std::strtol(end + 1, &end, 10);
    if (item.empty() || *end || lo < 1 || hi < lo || hi > kBenchRowsMax) return {};
    for (long v = lo; v <= hi; ++v) out.push_back(int32_t(v));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

int bench_rows_main(ModelOptions mo, const std::string& rows_arg, int32_t reps, const std::string& format,
                    const std::string& model_name) {
  const std::vector<int32_t> rows = parse_bench_rows(rows_arg);
  if (rows.empty()) {
    std::fprintf(stderr, "airt: bench: --rows '%s': expected row counts 1..%d like 1,2,4 or 1-64\n",
                 rows_arg.c_str(), kBenchRowsMax);
    return 2;
  }
  const int32_t most = *std::max_element(rows.begin(), rows.end());
  mo.n_batch = most;
  mo.n_ctx = std::max(mo.n_ctx, most + 1);
  auto lm = load_model(mo, mo.engine_config());
  if (!lm.ok()) return report(lm.error());
  engine::Engine& e = *lm->engine;
  auto one = median_step_ms(e, 1, reps);
  if (!one.ok()) return report(one.error());
  std::vector<RowsResult> res;
  for (int32_t n : rows) {
    auto ms = n == 1 ? one : median_step_ms(e, n, reps);
    if (!ms.ok()) return report(ms.error());
    res.push_back({n, *ms});
  }
  print_rows(format, model_name, e, *one, res);
  return 0;
}

}  // namespace airt::cli
