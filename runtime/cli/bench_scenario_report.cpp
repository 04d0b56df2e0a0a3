// The scenarios' built-in traces and their outputs: the table, the JSON rows, the SVG.
#include <cjson/cJSON.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "runtime/cli/bench_scenario.h"

namespace airt::cli {
namespace {

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0, double e = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b, c, d, e);
  return buf;
}

bool shrank(const PolicyResult& r) {
  return std::any_of(r.samples.begin(), r.samples.end(),
                     [&](const ScenarioSample& s) { return s.point != r.samples.front().point; });
}

}  // namespace

std::string scenario_throttle_csv() {
  std::string csv = "# airt bench --scenario throttle: steady 10 s, then 60 s of heating while the clock falls,\n"
                    "# then 20 s hot at the bottom clock\nt_s,temp_c,cpu_mhz,cpu_max_mhz\n";
  for (int t = 0; t <= 90; t += 5) {
    const double f = std::clamp((t - 10) / 60.0, 0.0, 1.0);
    csv += fmt("%.0f,%.1f,%.0f,2400\n", t, 50 + 35 * f, 2400 - 900 * f);
  }
  return csv;
}

std::string scenario_memory_csv(double floor_mb, double seconds) {
  const double hi = floor_mb * 4, lo = floor_mb / 2, third = seconds / 3;
  std::string csv = "# airt bench --scenario memory: MemAvailable falls below the floor for the middle third\n"
                    "t_s,mem_avail_mb\n";
  csv += fmt("0,%.0f\n%.2f,%.0f\n", hi, third * 0.5, hi);
  csv += fmt("%.2f,%.0f\n%.2f,%.0f\n", third, lo, 2 * third, lo);
  csv += fmt("%.2f,%.0f\n%.2f,%.0f\n", 2 * third + third * 0.5, hi, seconds, hi);
  return csv;
}

std::string scenario_json(const std::string& scenario, const std::vector<PolicyResult>& rows, const RequestMix& mix) {
  std::unique_ptr<cJSON, decltype(&cJSON_Delete)> arr(cJSON_CreateArray(), cJSON_Delete);
  for (const PolicyResult& r : rows) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scenario", scenario.c_str());
    cJSON_AddStringToObject(o, "policy", r.policy.c_str());
    cJSON_AddNumberToObject(o, "requests", r.requests);
    cJSON_AddNumberToObject(o, "met", r.met);
    cJSON_AddNumberToObject(o, "missed", r.missed);
    cJSON_AddNumberToObject(o, "refused", r.refused);
    cJSON_AddNumberToObject(o, "failed", r.failed);
    cJSON_AddNumberToObject(o, "deadlines_met_pct", r.met_pct());
    cJSON_AddNumberToObject(o, "mean_ppl", r.mean_ppl);
    cJSON_AddNumberToObject(o, "ppl_ratio", r.ppl_ratio);
    cJSON_AddNumberToObject(o, "tokens", double(r.tokens));
    cJSON_AddNumberToObject(o, "tokens_per_s", r.tokens_per_s);
    cJSON_AddNumberToObject(o, "itl_p50_ms", r.itl_p50_ms);
    cJSON_AddNumberToObject(o, "itl_p99_ms", r.itl_p99_ms);
    cJSON_AddNumberToObject(o, "switches", r.switches);
    cJSON_AddNumberToObject(o, "switches_per_min", r.switches_per_min);
    cJSON_AddNumberToObject(o, "duration_s", r.duration_s);
    if (r.allocations >= 0) cJSON_AddNumberToObject(o, "allocations", double(r.allocations));
    else cJSON_AddNullToObject(o, "allocations");
    cJSON_AddBoolToObject(o, "shrank", shrank(r));
    cJSON_AddBoolToObject(o, "grew_back", r.grew_back);
    cJSON_AddNumberToObject(o, "prompt_tokens", mix.prompt);
    cJSON_AddNumberToObject(o, "max_tokens", mix.max_tokens);
    cJSON_AddNumberToObject(o, "ttft_ms", mix.ttft_ms);
    cJSON_AddNumberToObject(o, "deadline_ms", mix.deadline_ms);
    cJSON_AddNumberToObject(o, "every_s", mix.every_s);
    cJSON_AddStringToObject(o, "slowdown", "duty-cycle pause step_ms*(max_mhz/cur_mhz-1)");
    cJSON_AddItemToArray(arr.get(), o);
  }
  std::unique_ptr<char, decltype(&cJSON_free)> text(cJSON_Print(arr.get()), cJSON_free);
  return text ? std::string(text.get()) + "\n" : "[]\n";
}

std::string scenario_table(const std::vector<PolicyResult>& rows) {
  std::string t =
      "| policy | requests | deadlines met | refused | failed | mean ppl (ratio) | t/s | itl p50 ms | itl p99 ms "
      "| switches/min |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const PolicyResult& r : rows) {
    t += "| " + r.policy + fmt(" | %.0f | %.1f%%", r.requests, r.met_pct()) +
         fmt(" | %.0f | %.0f | %.3f (%.4f)", r.refused, r.failed, r.mean_ppl, r.ppl_ratio) +
         fmt(" | %.2f | %.1f | %.1f | %.2f |\n", r.tokens_per_s, r.itl_p50_ms, r.itl_p99_ms, r.switches_per_min);
  }
  return t;
}

}  // namespace airt::cli
