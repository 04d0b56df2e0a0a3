// airt bench: prompt processing (pp), generation (tg) and mixed (pp+tg) speed, llama-bench
// style (mean ± stdev over repetitions after a warm-up), over a sweep of settings, with
// latency percentiles, memory, energy, temperature and throttling per row.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/synthetic_model.h"
#include "hal/cpu/kernels.h"
#include "runtime/cli/bench_calibrate.h"
#include "runtime/cli/bench_compare.h"
#include "runtime/cli/bench_ladder.h"
#include "runtime/cli/bench_membw.h"
#include "runtime/cli/bench_options.h"
#include "runtime/cli/bench_progress.h"
#include "runtime/cli/bench_report.h"
#include "runtime/cli/bench_rows.h"
#include "runtime/cli/bench_scenario.h"
#include "runtime/cli/bench_run.h"
#include "runtime/cli/bench_sampler.h"
#include "runtime/cli/bench_slots.h"
#include "runtime/cli/bench_stats.h"
#include "runtime/cli/bench_svg.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"

namespace airt::cli {
namespace {

// Set by the first Ctrl-C, checked between repetitions; the second one exits at once.
volatile std::sig_atomic_t g_stop = 0;
void on_sigint(int) {
  if (g_stop) _exit(130);
  g_stop = 1;
}

// Writes the --synthetic model to --keep (or a temporary file, returned to remove later).
Result<std::string> write_synthetic(BenchOptions& o) {
  auto spec = AIRT_TRY(bench::parse_synthetic_spec(o.synthetic));
  o.mo.model_path = o.keep.empty() ? "/tmp/airt-synthetic-" + std::to_string(getpid()) + ".gguf" : o.keep;
  std::fprintf(stderr, "airt: writing synthetic %s to %s\n", o.synthetic.c_str(), o.mo.model_path.c_str());
  AIRT_TRY(bench::write_synthetic_model(*spec.shape, spec.type, o.mo.model_path));
  return o.keep.empty() ? o.mo.model_path : std::string();
}

// The weights one decoded token streams: all of them except the token embedding table,
// which is gathered a row per token (unless the output projection shares it).
double bytes_per_token(const model::Model& m) {
  const model::WeightTensor& e = m.weights().token_embd;
  const bool tied = m.weights().output.data == e.data;
  return double(m.weight_bytes()) - (tied ? 0.0 : double(e.row_bytes) * double(e.rows));
}

// The engine rows run on, re-made only when the set-up changes.
struct Bench {
  const BenchOptions& o;
  const model::Model& m;
  const text::Tokenizer& tok;
  BenchSampler& sampler;
  BenchProgress& progress;
  std::optional<double> membw;
  std::string key;  // the set-up the engine below was made for
  std::unique_ptr<engine::Engine> single;
  std::unique_ptr<SlotsBench> slots;
  size_t plan_bytes = 0;
  bool profile_said = false;  // --profile's "no per-op timing" message, printed once

  Result<engine::Engine*> engine_for(const BenchJob& j, const BenchSetup& s);
  model::OpProfile* start_profile(const engine::Engine& e);
  Result<std::optional<BenchRow>> measure(const BenchJob& j);
  void resources(BenchRow& r, const BoardSample& start, const std::vector<std::pair<double, double>>& windows,
                 int64_t tokens) const;
};

Result<engine::Engine*> Bench::engine_for(const BenchJob& j, const BenchSetup& s) {
  const bool batched = s.n_slots > 1 && j.test.n_prompt == 0;
  std::string k = batched ? "slots" : "single";
  for (const std::string& v : j.values) k += "|" + v;
  if (k == key) return batched ? &slots->engine() : single.get();
  single.reset(), slots.reset();  // the old engine's memory goes before the new one's
  ModelOptions mo = o.mo;
  mo.threads = s.threads, mo.kv_types = s.kv, mo.window = s.window;
  mo.tier = s.tier;
  if (s.draft_len >= 0) mo.draft.fixed = s.draft_len;
  engine::EngineConfig c;
  if (batched) {
    slots = AIRT_TRY(SlotsBench::create(m, tok, mo, s.n_slots, j.test.n_gen, s.depth));
    c = slots->engine().config();
  } else {
    int32_t ctx = 0, batch = 1;  // one engine serves every test at this set-up
    for (const BenchTest& t : o.tests) ctx = std::max(ctx, bench_ctx_needed(t, s.depth));
    for (const BenchTest& t : o.tests) batch = std::max(batch, std::min(std::max(t.n_prompt, s.depth), 512));
    mo.n_ctx = std::max(mo.n_ctx, ctx);  // a larger -c is honoured (to measure its memory)
    mo.n_batch = batch;
    c = mo.engine_config();
    c.keep_cache = s.depth > 0;
    single = AIRT_TRY(make_engine(mo, m, tok, c));
    c = single->config();
  }
  plan_bytes = AIRT_TRY(engine::Engine::plan(m, c)).total_bytes();
  key = k;
  return batched ? &slots->engine() : single.get();
}

void Bench::resources(BenchRow& r, const BoardSample& start, const std::vector<std::pair<double, double>>& windows,
                      int64_t tokens) const {
  const BoardSample end = sampler.read_now();
  r.peak_rss_bytes = bench_peak_rss_bytes();
  r.temp_start_c = start.celsius, r.temp_end_c = end.celsius;
  r.mhz_start = start.mhz, r.mhz_end = end.mhz;
  if (start.mhz || end.mhz) {
    bool seen = start.throttled || end.throttled;
    for (const BoardSample& b : sampler.samples()) seen |= b.t_s >= start.t_s && b.t_s <= end.t_s && b.throttled;
    r.throttled = seen;
  }
  const std::vector<PowerSample> trace = sampler.power_trace();
  double joules = 0, seconds = 0;
  for (const auto& [t0, t1] : windows) {
    auto j = bench_energy_joules(trace, t0, t1);
    if (!j) return;
    joules += *j, seconds += t1 - t0;
  }
  if (seconds > 0) r.watts = joules / seconds;
  if (tokens > 0) r.joules_per_token = joules / double(tokens);
}

// --profile: the backend's per-op timing switched on (the warm-up records the timed pass),
// else null, the reason said once.
model::OpProfile* Bench::start_profile(const engine::Engine& e) {
  if (!o.profile) return nullptr;
  auto p = e.backend().op_profile();
  if (!p.ok()) {
    if (!profile_said) std::fprintf(stderr, "airt: %s\n", p.error().message.c_str());
    profile_said = true;
    return nullptr;
  }
  (*p)->clear();
  (*p)->on = true;
  return *p;
}

// One row: a warm-up run, then o.reps measured ones; nullopt when Ctrl-C stopped it.
Result<std::optional<BenchRow>> Bench::measure(const BenchJob& j) {
  const BenchSetup s = bench_setup(j);
  engine::Engine* e = AIRT_TRY(engine_for(j, s));
  bench_reset_peak_rss();
  BenchRow r{j};
  const BoardSample start = sampler.read_now();
  r.t_start_s = start.t_s;
  std::vector<double> ttft, gaps;
  std::vector<std::pair<double, double>> windows;
  int64_t tokens = 0;
  model::OpProfile* prof = start_profile(*e);
  for (int32_t i = 0; i <= o.reps; ++i) {  // run 0 warms up: pages the weights in, fills the depth
    if (g_stop) return std::optional<BenchRow>();
    if (prof && i == 1) prof->clear();  // only the measured repetitions count
    const double t0 = sampler.clock_s();
    RepTiming t = slots && e == &slots->engine() ? AIRT_TRY(slots->run(uint64_t(i + 1)))
                                                 : AIRT_TRY(bench_run_rep(*e, j.test, s.depth, uint64_t(i)));
    const double t1 = sampler.clock_s();
    progress.step();
    if (i == 0) continue;
    r.ts.push_back(t.tokens_per_s());
    r.rep_ends.emplace_back(t1, t.tokens_per_s());
    ttft.push_back(t.ttft_ms);
    gaps.insert(gaps.end(), t.gaps_ms.begin(), t.gaps_ms.end());
    windows.emplace_back(t0, t1);
    tokens += t.tokens;
  }
  bench_summarize(r);
  if (prof) {
    std::vector<BenchOpTotal> totals;
    for (const model::OpTime& t : prof->ops) totals.push_back({t.op, t.calls, t.ms});
    r.profile = bench_profile_ops(totals, prof->rows);
    prof->on = false;
  }
  r.ttft_ms = bench_mean(ttft);
  r.itl_p50_ms = bench_percentile(gaps, 50), r.itl_p90_ms = bench_percentile(gaps, 90);
  r.itl_p99_ms = bench_percentile(gaps, 99);
  r.plan_bytes = plan_bytes;
  if (membw && j.test.n_prompt == 0) r.roofline = bench_roofline(bytes_per_token(m) / s.n_slots, r.mean, *membw);
  resources(r, start, windows, tokens);
  r.t_end_s = sampler.clock_s();
  return std::optional<BenchRow>(std::move(r));
}

BenchInfo bench_info(const BenchOptions& o, const model::Model& m) {
  BenchInfo in;
  in.model = o.synthetic.empty() ? o.mo.model_path : o.synthetic;
  in.type = hal::dtype_name(m.main_type());
  in.model_bytes = m.weight_bytes();
  for (const auto& t : m.file().tensors()) in.model_params += size_t(t.n_elements());
  const hal::Kernels* k = o.mo.kernels;
  if (auto best = hal::kernels_best(); !k && best.ok()) k = *best;
  in.isa = k ? k->isa : "?";
  in.backend = o.mo.backend;  // "auto" reports what was asked; its decision goes to stderr
  return in;
}

// Loads, measures every row of the sweep, prints them; 130 when Ctrl-C cut it short.
int run_bench(const BenchOptions& o) {
  auto m = model::Model::load(o.mo.model_path);
  if (!m.ok()) return report(m.error());
  if (Status st = add_ladder(**m, o.mo); !st.ok()) return report(st.error());
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  if (!tok.ok()) return report(tok.error());
  BenchInfo info = bench_info(o, **m);
  if (o.membw) {
    int32_t threads = 1;  // the most any row uses: the bandwidth those threads can draw
    for (const BenchJob& j : bench_expand(o.lists, {{0, 1}})) threads = std::max(threads, bench_setup(j).threads);
    info.membw_gbps = bench_membw_gbps(size_t(o.membw_mib) << 20, threads);
  }
  const std::vector<BenchJob> jobs = bench_expand(o.lists, o.tests);
  BenchSampler sampler;
  BenchProgress progress(int64_t(jobs.size()) * (o.reps + 1));
  Bench b{o, **m, **tok, sampler, progress, info.membw_gbps};
  std::vector<BenchRow> rows;
  int status = 0;
  for (const BenchJob& j : jobs) {
    auto r = b.measure(j);
    if (!r.ok()) {
      status = report(r.error());
      break;
    }
    if (!*r) break;
    rows.push_back(std::move(**r));
    print_bench_row(o.format, info, rows.back());
  }
  progress.done();
  b.single.reset(), b.slots.reset();
  if (g_stop) std::fprintf(stderr, "airt: interrupted: %zu of %zu rows finished\n", rows.size(), jobs.size());
  print_bench_report(o.format, info, rows);
  if (!o.plot.empty())
    if (Status s = write_bench_svg(o.plot, info, rows, sampler.samples()); !s.ok() && status == 0) status = report(s.error());
  return g_stop ? 130 : status;
}

}  // namespace

int bench_main(int argc, char** argv) {
  if (bench_ladder_wanted(argc, argv)) return bench_ladder_main(argc, argv);
  if (bench_calibrate_wanted(argc, argv)) return bench_calibrate_main(argc, argv);
  if (bench_scenario_wanted(argc, argv)) return bench_scenario_main(argc, argv);
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--compare") return bench_compare_main(argc - i - 1, argv + i + 1);
  BenchOptions o;
  if (int status = parse_bench(argc, argv, o); status >= 0) return status;
  // From here on Ctrl-C stops the run and still prints what finished (even before the
  // first row, while the model loads).
  struct sigaction sa = {}, old = {};
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, &old);
  std::string temp_model;
  if (!o.synthetic.empty()) {
    auto t = write_synthetic(o);
    if (!t.ok()) return report(t.error());
    temp_model = *t;
  }
  if (!o.rows.empty()) {  // -t's first value: the rows mode runs one set-up
    o.mo.threads = bench_setup(bench_expand(o.lists, o.tests).front()).threads;
    const int st = bench_rows_main(o.mo, o.rows, o.reps, o.format, o.synthetic.empty() ? o.mo.model_path : o.synthetic);
    if (!temp_model.empty()) unlink(temp_model.c_str());
    return st;
  }
  const int status = run_bench(o);
  if (!temp_model.empty()) unlink(temp_model.c_str());
  sigaction(SIGINT, &old, nullptr);
  return status;
}

}  // namespace airt::cli
