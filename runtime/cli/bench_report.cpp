#include "runtime/cli/bench_report.h"

#include <cmath>
#include <cstdio>

#include "runtime/cli/bench_stats.h"
#include "runtime/core/memory_plan.h"
#include "runtime/service/json_util.h"

namespace airt::cli {
namespace {

std::string quoted(const std::string& s) {
  std::string q;
  service::json_append_string(q, s);
  return q;
}
std::string num(double v, const char* fmt = "%.3f") {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}
std::string opt(const std::optional<double>& v, const char* fmt = "%.3f") { return v ? num(*v, fmt) : "null"; }

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

// A JSON value as CSV text: strings unquoted from JSON, null empty.
std::string csv_value(const std::string& json) {
  if (json == "null") return "";
  if (json.empty() || json[0] != '"') return csv_field(json);
  service::JsonPtr j = service::json_parse_one(json, nullptr);
  return csv_field(j && cJSON_IsString(j.get()) ? j->valuestring : json);
}

std::string object(const BenchInfo& in, const BenchRow& r) {
  std::string o = "{";
  for (const auto& [k, v] : bench_row_fields(in, r)) {
    if (o.size() > 1) o += ", ";
    o += '"';
    o += k;
    o += "\": ";
    o += v;
  }
  if (!r.profile.empty()) o += ", \"profile\": " + bench_profile_json(r.profile);
  return o + "}";
}

std::string md(const std::optional<double>& v, const char* fmt = "%.2f") { return v ? num(*v, fmt) : "n/a"; }

void print_markdown(const BenchInfo& in, const std::vector<BenchRow>& rows) {
  const auto axes = bench_axes();
  std::string head = "| model | size | params | backend | isa |", rule = "|---|---:|---:|---|---|";
  for (const BenchAxis& a : axes) {
    head += ' ';
    head += a.header;
    head += " |";
    rule += "---:|";
  }
  head += " test | t/s | ttft ms | itl p50/p90/p99 ms | peak RSS | plan | W | J/tok | °C start/end | MHz start/end | throttled | roofline |";
  rule += "---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|";
  std::printf("%s\n%s\n", head.c_str(), rule.c_str());
  for (const BenchRow& r : rows) {
    std::vector<std::string> cells = {in.model, format_bytes(in.model_bytes), num(double(in.model_params) / 1e6, "%.2f M"),
                                      in.backend, in.isa};
    cells.insert(cells.end(), r.job.values.begin(), r.job.values.end());
    const int32_t depth = bench_setup(r.job).depth;
    std::string test = r.job.test.name();
    if (depth > 0) test += " @ d" + std::to_string(depth);  // llama-bench's name for a test at depth
    cells.insert(cells.end(), {test, num(r.mean, "%.2f") + " ± " + num(r.stdev, "%.2f"), md(r.ttft_ms),
                               md(r.itl_p50_ms) + " / " + md(r.itl_p90_ms) + " / " + md(r.itl_p99_ms),
                               format_bytes(r.peak_rss_bytes), format_bytes(r.plan_bytes), md(r.watts),
                               md(r.joules_per_token, "%.4f"), md(r.temp_start_c, "%.1f") + " / " + md(r.temp_end_c, "%.1f"),
                               md(r.mhz_start, "%.0f") + " / " + md(r.mhz_end, "%.0f"),
                               r.throttled ? (*r.throttled ? "yes" : "no") : "n/a", md(r.roofline, "%.3f")});
    std::string line = "|";
    for (const std::string& c : cells) {
      line += ' ';
      line += c;
      line += " |";
    }
    std::printf("%s\n", line.c_str());
  }
  for (const BenchRow& r : rows)
    if (!r.profile.empty())
      print_bench_profile("profile: " + r.job.test.name() + " (" + in.backend + "), device time per token over " +
                              std::to_string(r.ts.size()) + " repetitions",
                          r.profile);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> bench_row_fields(const BenchInfo& in, const BenchRow& r) {
  std::vector<std::pair<std::string, std::string>> f = {
      {"model", quoted(in.model)},         {"model_type", quoted(in.type)},
      {"model_bytes", std::to_string(in.model_bytes)}, {"model_params", std::to_string(in.model_params)},
      {"backend", quoted(in.backend)},     {"isa", quoted(in.isa)},
      {"test", quoted(r.job.test.name())}, {"n_prompt", std::to_string(r.job.test.n_prompt)},
      {"n_gen", std::to_string(r.job.test.n_gen)}};
  const auto axes = bench_axes();
  for (size_t a = 0; a < axes.size(); ++a)
    f.emplace_back(axes[a].key, axes[a].numeric ? r.job.values[a] : quoted(r.job.values[a]));
  std::string samples = "[";
  for (double v : r.ts) {
    if (samples.size() > 1) samples += ", ";
    samples += num(v);
  }
  f.insert(f.end(), {{"n_reps", std::to_string(r.ts.size())},
                     {"t_s_mean", num(r.mean)},
                     {"t_s_stdev", num(r.stdev)},
                     {"samples_ts", samples + "]"},
                     {"ttft_ms", opt(r.ttft_ms)},
                     {"itl_p50_ms", opt(r.itl_p50_ms)},
                     {"itl_p90_ms", opt(r.itl_p90_ms)},
                     {"itl_p99_ms", opt(r.itl_p99_ms)},
                     {"peak_rss_bytes", std::to_string(r.peak_rss_bytes)},
                     {"plan_bytes", std::to_string(r.plan_bytes)},
                     {"watts_mean", opt(r.watts)},
                     {"joules_per_token", opt(r.joules_per_token, "%.6f")},
                     {"temp_start_c", opt(r.temp_start_c, "%.1f")},
                     {"temp_end_c", opt(r.temp_end_c, "%.1f")},
                     {"mhz_start", opt(r.mhz_start, "%.0f")},
                     {"mhz_end", opt(r.mhz_end, "%.0f")},
                     {"throttled", r.throttled ? (*r.throttled ? "true" : "false") : "null"},
                     {"membw_gbps", opt(in.membw_gbps)},
                     {"roofline", opt(r.roofline, "%.4f")},
                     {"t_start_s", num(r.t_start_s)},
                     {"t_end_s", num(r.t_end_s)}});
  return f;
}

void bench_summarize(BenchRow& r) {
  r.mean = bench_mean(r.ts);
  r.stdev = bench_stdev(r.ts);
}

bool bench_format_streams(const std::string& format) { return format == "jsonl"; }

void print_bench_row(const std::string& format, const BenchInfo& in, const BenchRow& row) {
  if (format != "jsonl") return;
  std::printf("%s\n", object(in, row).c_str());
  std::fflush(stdout);
}

void print_bench_report(const std::string& format, const BenchInfo& in, const std::vector<BenchRow>& rows) {
  if (format == "jsonl") return;
  if (format == "json") {
    std::printf("[\n");
    for (size_t i = 0; i < rows.size(); ++i)
      std::printf("  %s%s\n", object(in, rows[i]).c_str(), i + 1 < rows.size() ? "," : "");
    std::printf("]\n");
  } else if (format == "csv") {
    std::string head;
    for (const auto& [k, v] : bench_row_fields(in, BenchRow{{std::vector<std::string>(bench_axes().size()), {}}}))
      if (k != "samples_ts") head += (head.empty() ? k : "," + k);
    std::printf("%s\n", head.c_str());
    for (const BenchRow& r : rows) {
      std::string line;
      for (const auto& [k, v] : bench_row_fields(in, r))
        if (k != "samples_ts") {
          if (!line.empty()) line += ',';
          line += csv_value(v);
        }
      std::printf("%s\n", line.c_str());
    }
  } else {
    print_markdown(in, rows);
  }
  std::fflush(stdout);
}

}  // namespace airt::cli
