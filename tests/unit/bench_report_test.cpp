// airt bench's outputs on recorded rows: the JSON keys (stable, typed, null for what a
// board cannot measure), --compare's matching and ratios, and that --plot's SVG is
// well-formed XML holding every series.
#include <gtest/gtest.h>

#include <cjson/cJSON.h>

#include <map>
#include <string>
#include <vector>

#include "runtime/cli/bench_compare.h"
#include "runtime/cli/bench_report.h"
#include "runtime/cli/bench_svg.h"

namespace airt::cli {
namespace {

BenchRow row(const std::string& threads, BenchTest t, std::vector<double> ts) {
  BenchRow r;
  for (const BenchAxis& a : bench_axes()) r.job.values.push_back(a.fallback());
  for (size_t i = 0; i < bench_axes().size(); ++i)
    if (std::string(bench_axes()[i].key) == "n_threads") r.job.values[i] = threads;
  r.job.test = t;
  r.ts = std::move(ts);
  bench_summarize(r);
  return r;
}

BenchInfo info() {
  BenchInfo in;
  in.model = "m <&> \"q\".gguf";  // text that JSON and XML must escape
  in.type = "q4_0";
  in.model_bytes = 1000;
  in.model_params = 2000;
  in.isa = "avx2";
  return in;
}

// A row's object as cJSON parses it.
cJSON* parsed(const BenchRow& r) {
  std::string o = "{";
  for (const auto& [k, v] : bench_row_fields(info(), r)) o += (o.size() > 1 ? ", \"" : "\"") + k + "\": " + v;
  return cJSON_Parse((o + "}").c_str());
}

TEST(BenchReport, JsonKeysAreStableAndTyped) {
  BenchRow r = row("2", {0, 8}, {10, 20, 30});
  r.ttft_ms = 1.5, r.itl_p50_ms = 2, r.itl_p90_ms = 3, r.itl_p99_ms = 4;
  cJSON* j = parsed(r);
  ASSERT_NE(j, nullptr);
  // Today's keys, which earlier reports also carry, and what they hold.
  EXPECT_STREQ(cJSON_GetObjectItem(j, "test")->valuestring, "tg8");
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "t_s_mean")->valuedouble, 20);
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "t_s_stdev")->valuedouble, 10);
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "n_threads")->valuedouble, 2);
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "model_bytes")->valuedouble, 1000);
  EXPECT_STREQ(cJSON_GetObjectItem(j, "model_type")->valuestring, "q4_0");
  EXPECT_STREQ(cJSON_GetObjectItem(j, "isa")->valuestring, "avx2");
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "n_slots")->valuedouble, 1);
  EXPECT_STREQ(cJSON_GetObjectItem(j, "model")->valuestring, info().model.c_str());
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "samples_ts")), 3);
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "itl_p99_ms")->valuedouble, 4);
  // What this row did not measure is null, never 0.
  for (const char* k : {"watts_mean", "joules_per_token", "temp_start_c", "mhz_end", "throttled", "roofline", "membw_gbps"})
    EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(j, k))) << k;
  // Every key, in order: a change here is a change to the documented format.
  std::vector<std::string> keys;
  for (const cJSON* c = j->child; c; c = c->next) keys.push_back(c->string);
  const std::vector<std::string> expected = {
      "model", "model_type", "model_bytes", "model_params", "backend", "isa", "test", "n_prompt", "n_gen",
      "ladder_tier", "kv_type", "window", "n_slots", "draft_len", "n_threads", "n_depth", "n_reps", "t_s_mean", "t_s_stdev", "samples_ts",
      "ttft_ms", "itl_p50_ms", "itl_p90_ms", "itl_p99_ms", "peak_rss_bytes", "plan_bytes", "watts_mean",
      "joules_per_token", "temp_start_c", "temp_end_c", "mhz_start", "mhz_end", "throttled", "membw_gbps",
      "roofline", "t_start_s", "t_end_s"};
  EXPECT_EQ(keys, expected);
  cJSON_Delete(j);
}

std::string report(const std::vector<BenchRow>& rows) {
  std::string s = "[";
  for (const BenchRow& r : rows) {
    std::string o = "{";
    for (const auto& [k, v] : bench_row_fields(info(), r)) o += (o.size() > 1 ? ", \"" : "\"") + k + "\": " + v;
    s += (s.size() > 1 ? "," : "") + o + "}";
  }
  return s + "]";
}

TEST(BenchReport, CompareMatchesRowsByConfiguration) {
  const std::string a = report({row("1", {16, 0}, {100}), row("1", {0, 8}, {50}), row("2", {0, 8}, {80})});
  // B in another order, one row more, one less; and as JSON Lines.
  const std::string b = "{\"test\": \"tg8\", \"n_threads\": 1, \"t_s_mean\": 75}\n"
                        "{\"test\": \"pp16\", \"n_threads\": 1, \"t_s_mean\": 150}\n"
                        "{\"test\": \"tg4\", \"n_threads\": 1, \"t_s_mean\": 9}\n";
  auto t = bench_compare(a, b);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_NE(t->find("threads=1 depth=0 pp16 | 100.00 | 150.00 | 1.500 |"), std::string::npos) << *t;
  EXPECT_NE(t->find("threads=1 depth=0 tg8 | 50.00 | 75.00 | 1.500 |"), std::string::npos) << *t;
  EXPECT_NE(t->find("only in A: tier=0 kv=f16 window=0 slots=1 draft=auto threads=2 depth=0 tg8"), std::string::npos) << *t;
  EXPECT_NE(t->find("only in B: tier=0 kv=f16 window=0 slots=1 draft=auto threads=1 depth=0 tg4"), std::string::npos) << *t;
  auto bad = bench_compare(a, "not json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("B"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(bench_compare("[{\"t_s_mean\": 1}]", a).ok()) << "a row without its test";
}

// A small well-formedness check: one root, tags nest and close, attributes quoted, only
// the predefined entities. Returns "" or the problem; `ids` collects every id="...".
std::string xml_problem(const std::string& x, std::vector<std::string>& ids) {
  std::vector<std::string> open;
  size_t i = 0, roots = 0;
  if (x.rfind("<?xml", 0) == 0) i = x.find("?>") + 2;
  while (i < x.size()) {
    if (x[i] != '<') {
      if (x[i] == '&') {
        const size_t semi = x.find(';', i);
        const std::string ent = x.substr(i, semi - i + 1);
        if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;") return "entity " + ent;
      }
      if (open.empty() && !isspace(static_cast<unsigned char>(x[i]))) return "text outside the root";
      ++i;
      continue;
    }
    const size_t end = x.find('>', i);
    if (end == std::string::npos) return "unclosed tag";
    std::string tag = x.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return "mismatched </" + tag.substr(1) + ">";
      open.pop_back();
      continue;
    }
    const bool self = tag.back() == '/';
    if (self) tag.pop_back();
    const std::string name = tag.substr(0, tag.find_first_of(" \n"));
    for (size_t q = tag.find('='); q != std::string::npos; q = tag.find('=', q + 1)) {
      if (q + 1 >= tag.size() || tag[q + 1] != '"') return "unquoted attribute in <" + name + ">";
      const size_t close = tag.find('"', q + 2);
      if (close == std::string::npos) return "unterminated attribute in <" + name + ">";
      if (tag.compare(q - 2, 3, "id=") == 0 && (q < 3 || tag[q - 3] == ' ')) ids.push_back(tag.substr(q + 2, close - q - 2));
      if (tag.substr(q + 2, close - q - 2).find('<') != std::string::npos) return "< in an attribute";
      q = close;
    }
    if (open.empty()) ++roots;
    if (!self) open.push_back(name);
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return roots == 1 ? "" : "expected one root element";
}

TEST(BenchReport, SvgIsWellFormedWithEverySeries) {
  std::vector<BenchRow> rows = {row("1", {16, 0}, {100, 110}), row("2", {0, 8}, {50, 55})};
  rows[0].t_start_s = 0, rows[0].t_end_s = 1, rows[0].rep_ends = {{0.5, 100}, {1, 110}};
  rows[1].t_start_s = 1, rows[1].t_end_s = 2, rows[1].rep_ends = {{1.5, 50}, {2, 55}};
  std::vector<BoardSample> samples;
  for (int i = 0; i <= 20; ++i) samples.push_back({i * 0.1, 50.0 + i, std::nullopt, 1800.0 - i, false});
  std::vector<std::string> ids;
  const std::string svg = bench_svg(info(), rows, samples);
  EXPECT_EQ(xml_problem(svg, ids), "") << svg;
  for (const char* id : {"temperature", "frequency", "power", "tokens_per_s", "operating_point", "configs"})
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id << " missing";
  EXPECT_NE(svg.find("n/a: no sensor"), std::string::npos) << "the power panel says it has no data";
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  // The checker itself catches what it is for.
  std::vector<std::string> none;
  EXPECT_NE(xml_problem("<svg><g></svg>", none), "");
  EXPECT_NE(xml_problem("<svg a=b></svg>", none), "");
  EXPECT_NE(xml_problem("<svg>&nbsp;</svg>", none), "");
  EXPECT_NE(xml_problem("<a/><b/>", none), "");
  // No rows, no samples: still a document.
  EXPECT_EQ(xml_problem(bench_svg(info(), {}, {}), none), "");
}

}  // namespace
}  // namespace airt::cli
