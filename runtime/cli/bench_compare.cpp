#include "runtime/cli/bench_compare.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "runtime/cli/bench_sweep.h"
#include "runtime/core/args.h"
#include "runtime/service/json_util.h"

namespace airt::cli {
namespace {

struct Run {
  std::string label;  // the configuration: match key and the table's text
  double ts = 0;
  bool used = false;
};

std::string text_of(const cJSON* v) {
  if (cJSON_IsString(v)) return v->valuestring;
  if (cJSON_IsNumber(v)) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v->valuedouble);
    return b;
  }
  return "";
}

// One report row; a report from before an axis existed matches that axis' default.
Result<Run> row_of(const cJSON* o, const char* which) {
  const cJSON* test = cJSON_GetObjectItemCaseSensitive(o, "test");
  const cJSON* ts = cJSON_GetObjectItemCaseSensitive(o, "t_s_mean");
  if (!cJSON_IsString(test) || !cJSON_IsNumber(ts))
    return errorf(Error::kRequestInvalid, "--compare %s: a row without \"test\" and \"t_s_mean\"; give reports from airt bench -o json", which);
  Run r;
  for (const BenchAxis& a : bench_axes()) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, a.key);
    r.label += std::string(a.header) + "=" + (v ? text_of(v) : a.fallback()) + " ";
  }
  r.label += test->valuestring;
  r.ts = ts->valuedouble;
  return r;
}

Result<std::vector<Run>> parse_report(std::string_view text, const char* which) {
  std::vector<Run> rows;
  std::string problem;
  service::JsonPtr all = service::json_parse_one(text, &problem);
  std::vector<service::JsonPtr> objects;
  if (all && cJSON_IsArray(all.get())) {
    const cJSON* o = nullptr;
    cJSON_ArrayForEach(o, all.get()) rows.push_back(AIRT_TRY(row_of(o, which)));
    return rows;
  }
  std::istringstream lines{std::string(text)};  // JSON Lines
  for (std::string line; std::getline(lines, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    service::JsonPtr o = service::json_parse_one(line, &problem);
    if (!o || !cJSON_IsObject(o.get()))
      return errorf(Error::kRequestInvalid, "--compare %s: not a JSON array or JSON Lines report (%s)", which, problem.c_str());
    rows.push_back(AIRT_TRY(row_of(o.get(), which)));
  }
  return rows;
}

}  // namespace

Result<std::string> bench_compare(std::string_view a_text, std::string_view b_text) {
  std::vector<Run> a = AIRT_TRY(parse_report(a_text, "A")), b = AIRT_TRY(parse_report(b_text, "B"));
  std::string out = "| configuration | A t/s | B t/s | B/A |\n|---|---:|---:|---:|\n", only;
  char line[512];
  for (Run& ra : a) {
    Run* match = nullptr;
    for (Run& rb : b)
      if (!rb.used && rb.label == ra.label) match = &rb;
    if (!match) {
      only += "- only in A: " + ra.label + "\n";
      continue;
    }
    match->used = ra.used = true;
    std::snprintf(line, sizeof line, "| %s | %.2f | %.2f | %.3f |\n", ra.label.c_str(), ra.ts, match->ts,
                  ra.ts > 0 ? match->ts / ra.ts : 0.0);
    out += line;
  }
  for (const Run& rb : b)
    if (!rb.used) only += "- only in B: " + rb.label + "\n";
  return only.empty() ? out : out + "\nunmatched rows:\n" + only;
}

int bench_compare_main(int argc, char** argv) {
  if (argc != 2) {
    std::fputs("airt bench: --compare needs two reports: airt bench --compare A.json B.json\n", stderr);
    return kExitUsage;
  }
  std::string text[2];
  for (int i = 0; i < 2; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "airt: --compare: cannot read %s; give a report written by airt bench -o json\n", argv[i]);
      return kExitUsage;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    text[i] = ss.str();
  }
  auto table = bench_compare(text[0], text[1]);
  if (!table.ok()) {
    std::fprintf(stderr, "airt: %s\n", table.error().message.c_str());
    return kExitUsage;
  }
  std::fputs(table->c_str(), stdout);
  return 0;
}

}  // namespace airt::cli
