#include "runtime/cli/bench_calibrate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "governor/sensors/cpu.h"
#include "runtime/cli/bench_run.h"
#include "runtime/cli/bench_stats.h"
#include "runtime/cli/bench_sweep.h"
#include "runtime/engine/tier_quality.h"
#include "runtime/service/config.h"

namespace airt::cli {
namespace {

struct Collector {
  std::vector<governor::StepRecord> steps;
  static void hook(void* ctx, engine::Engine&, const governor::StepRecord& r) {
    static_cast<Collector*>(ctx)->steps.push_back(r);
  }
};

struct ErrorSink : engine::Sink {
  ErrorInfo error;
  bool failed = false;
  void on_token(engine::Ticket, int32_t, std::string_view) override {}
  void on_finish(engine::Ticket, const engine::Finish&) override {}
  void on_error(engine::Ticket, const ErrorInfo& e) override { failed = true, error = e; }
};

// `n` requests together, each `prompt` random tokens then `gen` greedy ones (0: the
// prompt only); their steps go to `col`.
Status run_batch(engine::Engine& e, int32_t n, int32_t prompt, int32_t gen, uint64_t seed, Collector& col) {
  std::vector<std::vector<int32_t>> prompts;
  for (int32_t i = 0; i < n; ++i) prompts.push_back(bench_tokens(prompt, e.n_vocab(), seed * 131 + uint64_t(i)));
  for (int32_t i = 0; i < n; ++i) {
    engine::Request r;
    r.prompt_tokens = prompts[size_t(i)];
    r.prompt_only = gen == 0;
    r.max_tokens = std::max(gen, 1);
    r.ignore_eos = true;
    r.sampling.temp = 0;
    AIRT_TRY(e.submit(engine::Ticket(i + 1), r));
  }
  ErrorSink sink;
  col.steps.clear();
  e.set_step_hook(&Collector::hook, &col);
  while (e.step(sink)) {
  }
  e.set_step_hook(nullptr, nullptr);
  if (sink.failed) return sink.error;
  return {};
}

// A step's cost under noise: other work on the board only ever makes a step longer, so
// a low quantile estimates what the step itself costs better than the mean or median.
double typical(std::vector<double> v) { return bench_percentile(std::move(v), 25).value_or(0); }

// step_ms + decode_ms_per_row x rows through the typical step time at each row count
// (least squares; one row count: all of it per step).
void fit_decode(const std::map<int32_t, std::vector<double>>& by_rows, governor::ProfileEntry& e) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& [rows, ms] : by_rows) pts.emplace_back(double(rows), typical(ms));
  if (pts.empty()) return;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : pts) sx += x, sy += y, sxx += x * x, sxy += x * y;
  const double n = double(pts.size()), den = n * sxx - sx * sx;
  double slope = pts.size() > 1 && den > 0 ? (n * sxy - sx * sy) / den : 0;
  slope = std::max(0.0, slope);
  e.decode_ms_per_row = slope;
  e.step_ms = std::max(0.0, (sy - slope * sx) / n);
}

governor::ProfileEntry entry_for(const governor::OperatingPoint& p) {
  governor::ProfileEntry e;
  e.tier = p.tier, e.window = p.window, e.draft_len = p.draft_len, e.threads = p.threads;
  e.kv = governor::KvPrecision{p.kv_k, p.kv_v};
  return e;
}

// One point: a warm-up run (pages its tier in), prompt steps, decode at 1..slots.
Result<governor::ProfileEntry> time_point(engine::Engine& e, const governor::OperatingPoint& p,
                                          const CalibrateSettings& s, Collector& col) {
  AIRT_TRY(e.apply(p));
  governor::ProfileEntry out = entry_for(p);
  AIRT_TRY(run_batch(e, 1, 1, s.gen, 0, col));
  std::map<int32_t, std::vector<double>> decode;
  for (int32_t b = 1; b <= s.slots; ++b) {
    AIRT_TRY(run_batch(e, b, 1, s.gen + 1, uint64_t(b), col));
    for (const governor::StepRecord& r : col.steps)
      if (r.rows_prefill == 0 && r.rows_decode > 0) decode[r.rows_decode].push_back(r.wall_ms);
  }
  fit_decode(decode, out);
  std::vector<double> prefill;
  for (uint64_t rep = 0; rep < 4; ++rep) {
    AIRT_TRY(run_batch(e, 1, s.prompt, 0, 100 + rep, col));
    for (const governor::StepRecord& r : col.steps)
      if (r.rows_prefill > 0) prefill.push_back((r.wall_ms - out.step_ms) / r.rows_prefill);
  }
  out.prefill_ms_per_row = std::max(0.0, typical(prefill));
  return out;
}

// Chunks of kQualityChunk scored positions, as airt bench --quality.
constexpr int32_t kQualityChunk = 128;

ModelOptions quality_options(const ModelOptions& mo) {
  ModelOptions q = mo;
  q.n_batch = kQualityChunk;
  q.n_ctx = std::max(mo.n_ctx, kQualityChunk);
  q.draft = DraftOptions{};
  return q;
}

engine::EngineConfig quality_config(const ModelOptions& q) {
  engine::EngineConfig c = q.engine_config();
  c.n_logits = kQualityChunk;
  return c;
}

// ppl(p) / ppl(base) on the built-in text; `what` names the point in an error.
Result<double> quality_ratio(engine::Engine& e, const governor::OperatingPoint& p, double base,
                             const std::string& what) {
  auto q = engine::text_perplexity(e, p, engine::tier_quality_default_text());
  if (!q.ok()) return errorf(q.error().code, "measuring the quality of %s: %s", what.c_str(), q.error().message.c_str());
  return q->perplexity / base;
}

std::string parent_dir(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  return slash == std::string::npos || slash == 0 ? "/" : p.substr(0, slash);
}

}  // namespace

Result<governor::Space> bench_space(const model::Model& m, const PointLists& l, int32_t n_ctx, int32_t sinks,
                                    int32_t max_threads) {
  governor::SpaceConfig c;
  c.tiers = l.tiers;
  if (c.tiers.empty())
    for (int32_t t = 0; t < m.n_tiers(); ++t) c.tiers.push_back(t);
  for (int32_t t = 0; t < m.n_tiers(); ++t) c.tier_names.push_back(m.tier_name(t));
  c.windows = l.windows, c.kv = l.kv, c.draft_lens = l.draft_lens, c.threads = l.threads;
  c.sinks = sinks, c.context = n_ctx, c.max_threads = max_threads;
  return governor::Space::make(std::move(c));
}

engine::EngineConfig bench_calibrate_config(const ModelOptions& mo, const governor::Space& space,
                                            const CalibrateSettings& s) {
  engine::EngineConfig c = mo.engine_config();
  c.n_slots = std::max(s.slots, 1);
  c.n_ctx = std::max(mo.n_ctx, s.prompt + s.gen + 16);
  c.prefill_chunk = std::max(s.prompt, 1);
  c.n_batch = 0;   // n_slots - 1 + prefill_chunk
  c.max_window = 0;  // every window of the space fits the whole context's plan
  c.sinks = space.config().sinks;
  int32_t draft = 0;
  for (size_t i = 0; i < space.size(); ++i) draft = std::max(draft, space[i].draft_len);
  if (draft > 0) c.draft_max = draft, c.draft_auto = false;
  return c;
}

Result<governor::Profile> bench_calibrate(engine::Engine& e, const governor::Space& space,
                                          const CalibrateSettings& s,
                                          const std::function<void(const std::string&)>& note) {
  const governor::OperatingPoint before = e.point();
  const governor::CpuReading cpu0 = governor::read_cpu();
  governor::Profile prof;
  Collector col;
  col.steps.reserve(size_t(s.gen + s.prompt) * 4 + 16);
  for (size_t i = 0; i < space.size(); ++i) {
    auto entry = time_point(e, space[i], s, col);
    e.set_step_hook(nullptr, nullptr);
    if (!entry.ok()) {
      (void)e.apply(before);
      return errorf(entry.error().code, "calibrating %s: %s", space.describe(i).c_str(),
                    entry.error().message.c_str());
    }
    char line[256];
    std::snprintf(line, sizeof line, "%-36s step %.2f ms + %.3f ms/decode row, prefill %.3f ms/row",
                  space.describe(i).c_str(), entry->step_ms, entry->decode_ms_per_row, entry->prefill_ms_per_row);
    note(line);
    prof.points.push_back(*entry);
  }
  (void)e.apply(before);
  const governor::CpuReading cpu1 = governor::read_cpu();
  if (cpu0.cur_mhz && cpu1.cur_mhz && cpu1.max_mhz) {
    prof.cpu_mhz = (*cpu0.cur_mhz + *cpu1.cur_mhz) / 2;
    prof.cpu_max_mhz = *cpu1.max_mhz;
  }
  return prof;
}

Result<std::vector<double>> bench_tier_perplexity(const model::Model& m, const text::Tokenizer& tok,
                                                  const ModelOptions& mo, const std::string& state_dir) {
  ModelOptions q = quality_options(mo);
  auto e = AIRT_TRY(make_engine(q, m, tok, quality_config(q)));
  std::vector<engine::TierQuality> tiers =
      AIRT_TRY(engine::tier_quality_measure(*e, engine::tier_quality_default_text(), state_dir));
  std::vector<double> out(size_t(m.n_tiers()), 0.0);
  for (const engine::TierQuality& t : tiers) out[size_t(t.tier)] = t.perplexity;
  return out;
}

Status bench_quality_ratios(const model::Model& m, const text::Tokenizer& tok, const ModelOptions& mo,
                            const governor::Space& space, governor::Profile& out,
                            const std::function<void(const std::string&)>& note) {
  const governor::SpaceConfig& sc = space.config();
  ModelOptions q = quality_options(mo);
  engine::EngineConfig c = quality_config(q);
  c.kv_types = model::KvTypes{};  // the pool holds the F16 reference and every narrower type
  c.max_window = 0, c.sinks = sc.sinks;
  auto e = AIRT_TRY(make_engine(q, m, tok, c));
  governor::OperatingPoint base;
  base.tier = sc.tiers.empty() ? 0 : sc.tiers[0];
  auto ref = engine::text_perplexity(*e, base, engine::tier_quality_default_text());
  if (!ref.ok()) return ref.error();
  char line[160];
  for (int32_t w : sc.windows) {
    if (w == 0) continue;
    if (w >= kQualityChunk) {
      std::snprintf(line, sizeof line, "window %d: not measured (the text is scored in chunks of %d)", w, kQualityChunk);
      note(line);
      continue;
    }
    governor::OperatingPoint p = base;
    p.window = w, p.sinks = sc.sinks;
    const double r = AIRT_TRY(quality_ratio(*e, p, ref->perplexity, "window " + std::to_string(w)));
    out.window_ratio.push_back({w, r});
    std::snprintf(line, sizeof line, "window %d + %d sinks: perplexity x %.4f", w, sc.sinks, r);
    note(line);
  }
  for (const governor::KvPrecision& kv : sc.kv) {
    if (kv == governor::KvPrecision{}) continue;
    governor::OperatingPoint p = base;
    p.kv_k = kv.k, p.kv_v = kv.v;
    const std::string name = governor::kv_precision_name(kv);
    const double r = AIRT_TRY(quality_ratio(*e, p, ref->perplexity, "KV " + name));
    out.kv_ratio.push_back({kv, r});
    std::snprintf(line, sizeof line, "KV %s: perplexity x %.4f", name.c_str(), r);
    note(line);
  }
  return {};
}

std::string bench_state_dir() {
  const std::string service = parent_dir(service::SessionsConfig{}.state_dir);
  if (access(service.c_str(), W_OK) == 0) return service;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/airt";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/airt";
  return ".";
}

bool bench_calibrate_wanted(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--calibrate")) return true;
  return false;
}

}  // namespace airt::cli
