// airt bench --scenario: the command line, the set-up (model, ladder, in-process
// calibration, quality), one run per policy, and the outputs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "hal/cpu/thread_pool.h"
#include "runtime/cli/bench_calibrate.h"
#include "runtime/cli/bench_scenario.h"
#include "runtime/core/args.h"
#include "runtime/core/file.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt bench --scenario throttle|memory -m MODEL [--ladder F[,F...]] [options]\n"
    "Replays a sensor trace in wall-clock time while requests with deadlines run, once under\n"
    "the governor and once at each fixed operating point (throttle: every tier, whole\n"
    "window, no draft). The trace's CPU clock is emulated: after each step the engine\n"
    "pauses step_ms x (max_mhz / cur_mhz - 1), so deadlines are met or missed on the wall clock.\n"
    "  --trace FILE.csv   t_s,temp_c,power_w,mem_avail_mb,cpu_mhz (default: built in;\n"
    "                     throttle 50 -> 85 C, 2400 -> 1500 MHz over 90 s, as bench/traces/)\n"
    "  --requests N       requests over the trace (default: one every --every S)\n"
    "  --every S          seconds between requests (default: 0.8 x the best point's request\n"
    "                     time, at least 1.2 x the cheapest point's at the trace's slowest clock)\n"
    "  --prompt N         prompt tokens (default 16)\n"
    "  --max-tokens N     generated tokens per request (throttle 16, memory 48)\n"
    "  --ttft-ms MS       first token due (default: half the deadline)\n"
    "  --deadline-ms MS   last token due (default: 1.25 x the best point's predicted request\n"
    "                     time at the full clock, at least 1.5 x the cheapest point's at the\n"
    "                     slowest clock; from the calibration)\n"
    "  --slots N          requests decoded together (throttle 2, memory 4)\n"
    "  --profile P.json   latency profile (airt bench --calibrate; default: calibrate now)\n"
    "  --mem-floor-mb MB  memory: the governor's floor (default 512)\n"
    "  --dwell-s S        the governor's minimum time between unforced switches (default 10)\n"
    "  --policies L       governor, fixed or both (default both; memory: governor)\n"
    "  --plot FILE.svg    trace, operating point, latency and misses against time\n"
    "  -o md|json         a table (default) or one JSON object per policy\n"
    "  -m, -t, -c, --ladder, --mem-budget: as for airt run\n";

struct ScenarioOptions {
  ModelOptions mo;
  std::string scenario, trace, profile, plot, format = "md", policies;
  RequestMix mix;
  float every = 0, ttft = -1, deadline = -1, floor_mb = 512, dwell_s = -1;
  int32_t slots = 0, max_tokens = 0;
};

int parse(int argc, char** argv, ScenarioOptions& o) {
  Args a("bench --scenario", argc, argv);
  while (a.next()) {
    if (a.str("--scenario", nullptr, o.scenario) || o.mo.parse(a) || a.str("--trace", nullptr, o.trace) ||
        a.str("--profile", nullptr, o.profile) || a.str("--plot", nullptr, o.plot) ||
        a.str("--output", "-o", o.format) || a.str("--policies", nullptr, o.policies))
      continue;
    if (a.i32("--requests", nullptr, o.mix.requests, 1, 100000) || a.i32("--prompt", nullptr, o.mix.prompt, 1, 4096) ||
        a.i32("--max-tokens", nullptr, o.max_tokens, 1, 4096) || a.i32("--slots", nullptr, o.slots, 1, 64))
      continue;
    if (a.f32("--every", nullptr, o.every, 0.001, 3600) || a.f32("--ttft-ms", nullptr, o.ttft, 0, 1e7) ||
        a.f32("--deadline-ms", nullptr, o.deadline, 0, 1e8) || a.f32("--mem-floor-mb", nullptr, o.floor_mb, 1, 1e7) ||
        a.f32("--dwell-s", nullptr, o.dwell_s, 0, 3600))
      continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && o.scenario != "throttle" && o.scenario != "memory") a.fail("--scenario must be throttle or memory");
  if (a.ok() && o.mo.model_path.empty()) a.fail("missing -m MODEL");
  if (a.ok() && o.format != "md" && o.format != "json") a.fail("-o must be md or json");
  if (a.ok() && !o.policies.empty() && o.policies != "governor" && o.policies != "fixed" && o.policies != "both")
    a.fail("--policies must be governor, fixed or both");
  return a.ok() ? -1 : a.usage_error();
}

struct Setup {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<text::Tokenizer> tok;
  std::optional<governor::Space> space;
  std::unique_ptr<engine::Engine> engine;
  governor::Profile profile;
  governor::QualityTable quality;
  std::vector<double> ppl;  // per point
  std::optional<governor::Trace> trace;
};

Result<governor::Space> make_space(const ScenarioOptions& o, const model::Model& m, int32_t n_ctx) {
  PointLists l;
  const int32_t threads = o.mo.threads > 0 ? o.mo.threads : hal::physical_cores();
  if (o.scenario == "memory") {  // one tier; the window and KV precision are what shrink
    l.tiers = {0};
    l.windows = {0, std::max(8, n_ctx / 3)};
    l.kv = {governor::KvPrecision{}, governor::KvPrecision{hal::DType::kQ8_0, hal::DType::kQ8_0}};
  }
  return bench_space(m, l, n_ctx, 4, threads);
}

Status load(ScenarioOptions& o, Setup& s) {
  s.model = AIRT_TRY(model::Model::load(o.mo.model_path));
  AIRT_TRY(add_ladder(*s.model, o.mo));
  s.tok = AIRT_TRY(text::Tokenizer::from_gguf(s.model->file()));
  const std::string csv = o.trace.empty() ? (o.scenario == "memory" ? scenario_memory_csv(o.floor_mb, 30)
                                                                     : scenario_throttle_csv())
                                          : AIRT_TRY(read_file(o.trace));
  s.trace = AIRT_TRY(governor::Trace::parse(csv, o.trace.empty() ? "built-in " + o.scenario + " trace" : o.trace));
  const std::vector<double> tier_ppl = AIRT_TRY(bench_tier_perplexity(*s.model, *s.tok, o.mo, bench_state_dir()));
  CalibrateSettings cs;
  cs.slots = o.mix.resubmit ? std::min(o.slots, 2) : o.slots;
  cs.prompt = o.mix.prompt;
  const int32_t n_ctx = std::max(o.mo.n_ctx, o.mix.prompt + o.mix.max_tokens + 16);
  s.space = AIRT_TRY(make_space(o, *s.model, n_ctx));
  engine::EngineConfig c = bench_calibrate_config(o.mo, *s.space, cs);
  c.n_slots = o.slots, c.n_ctx = n_ctx, c.n_batch = 0;
  s.engine = AIRT_TRY(make_engine(o.mo, *s.model, *s.tok, c));
  if (!o.profile.empty()) {
    s.profile = AIRT_TRY(governor::load_profile(o.profile));
  } else {
    std::fprintf(stderr, "airt: calibrating %zu operating points (use --profile to skip)\n", s.space->size());
    s.profile = AIRT_TRY(bench_calibrate(*s.engine, *s.space, cs, [](const std::string& l) {
      std::fprintf(stderr, "  %s\n", l.c_str());
    }));
    s.profile.cpu_mhz = s.profile.cpu_max_mhz = 0;  // measured at the emulated full clock
  }
  s.profile.tier_perplexity = tier_ppl;
  governor::profile_quality(s.profile, s.quality);
  for (size_t i = 0; i < s.space->size(); ++i) s.ppl.push_back(s.quality.figure((*s.space)[i]).ppl);
  return {};
}

// The slowest clock of the trace as a fraction of its maximum (1 without a clock column).
double slowest_clock(const governor::Trace& t) {
  using governor::Quantity;
  if (!t.has(Quantity::kCpuFreq)) return 1.0;
  double lo = 1e300, hi = 0;
  for (double x = t.start_s(); x <= t.end_s() + 1e-9; x += 0.25) {
    const double mhz = t.at(Quantity::kCpuFreq, x).value_or(0);
    const double max = t.at(Quantity::kCpuMaxFreq, x).value_or(0);
    lo = std::min(lo, mhz);
    hi = std::max({hi, mhz, max});
  }
  return hi > 0 && lo > 0 ? std::clamp(lo / hi, 0.05, 1.0) : 1.0;
}

// Defaults from the calibrated costs: the deadline 1.25 x a request's time at the best
// point at the full clock (met there, missed once the clock falls below 80%), the first
// token due at half of it, a request every 0.8 x that time (two slots absorb the
// overlap) -- each widened where needed so that the cheapest point still keeps up at
// the trace's slowest clock: a mix no policy can meet measures nothing.
void default_mix(ScenarioOptions& o, const Setup& s) {
  RequestMix& m = o.mix;
  if (m.resubmit) return;
  const governor::CostModel cm(*s.space, &s.profile);
  auto request_ms = [&](size_t i, double fr) {
    return cm.step_ms(i, 0, m.prompt, fr) + (m.max_tokens - 1) * cm.decode_ms_per_token(i, 1, fr);
  };
  size_t best = 0, cheapest = 0;
  for (size_t i = 1; i < s.ppl.size(); ++i) {
    if (s.ppl[i] < s.ppl[best]) best = i;
    if (request_ms(i, 1) < request_ms(cheapest, 1)) cheapest = i;
  }
  const double ms = request_ms(best, 1), slow = request_ms(cheapest, slowest_clock(*s.trace));
  m.deadline_ms = o.deadline >= 0 ? o.deadline : std::ceil(std::max(1.25 * ms, 1.5 * slow) / 10) * 10;
  m.ttft_ms = o.ttft >= 0 ? o.ttft : std::ceil(m.deadline_ms / 2 / 10) * 10;
  m.every_s = o.every > 0 ? o.every : std::ceil(std::max(0.8 * ms, 1.2 * slow) / 100) / 10;
  if (o.mix.requests > 0 && o.every <= 0) m.every_s = (s.trace->end_s() - s.trace->start_s()) / m.requests;
}

std::vector<PolicyRun> policies(const ScenarioOptions& o, const Setup& s) {
  std::vector<PolicyRun> runs;
  const std::string want = o.policies.empty() ? (o.scenario == "memory" ? "governor" : "both") : o.policies;
  if (want != "fixed") {
    PolicyRun g;
    g.name = "governor", g.governed = true, g.profile = &s.profile, g.quality = s.quality;
    g.print_events = true;
    if (o.scenario == "memory") g.config.limits.mem_floor_mb = o.floor_mb;
    if (o.dwell_s >= 0) g.config.limits.dwell_s = o.dwell_s;
    runs.push_back(std::move(g));
  }
  if (want == "governor") return runs;
  for (size_t i = 0; i < s.space->size(); ++i) {
    const governor::OperatingPoint& p = (*s.space)[i];
    if (p.window == 0 && p.draft_len == 0 && p.kv_k == hal::DType::kF16)
      runs.push_back({"fixed " + s.space->describe(i), false, i, nullptr, {}, {}});
  }
  return runs;
}

void print_setup(const ScenarioOptions& o, const Setup& s) {
  if (s.trace->has(governor::Quantity::kCpuFreq))
    std::fprintf(stderr,
                 "airt: the CPU clock is emulated: during each step the engine pauses step_ms x (max_mhz / cur_mhz - 1) "
                 "(a duty cycle; the trace's cpu_mhz, not the board's), and deadlines are judged on the wall clock\n");
  const double secs = s.trace->end_s() - s.trace->start_s();
  if (o.mix.resubmit) {
    std::fprintf(stderr, "airt: memory trace %.0f s, floor %.0f MB; %d sequences kept running (prompt %d, %d tokens)\n",
                 secs, o.floor_mb, o.slots, o.mix.prompt, o.mix.max_tokens);
    return;
  }
  std::fprintf(stderr, "airt: %s trace %.0f s; requests every %.2f s, prompt %d, max %d tokens, ttft %.0f ms, "
               "deadline %.0f ms, %d slots\n", o.scenario.c_str(), secs, o.mix.every_s, o.mix.prompt,
               o.mix.max_tokens, o.mix.ttft_ms, o.mix.deadline_ms, o.slots);
}

}  // namespace

bool bench_scenario_wanted(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--scenario")) return true;
  return false;
}

int bench_scenario_main(int argc, char** argv) {
  ScenarioOptions o;
  if (int st = parse(argc, argv, o); st >= 0) return st;
  const bool memory = o.scenario == "memory";
  o.mix.resubmit = memory;
  o.mix.max_tokens = o.max_tokens > 0 ? o.max_tokens : memory ? 48 : 16;
  if (o.slots == 0) o.slots = memory ? 4 : 2;
  Setup s;
  if (Status st = load(o, s); !st.ok()) return report(st.error());
  default_mix(o, s);
  print_setup(o, s);
  std::vector<PolicyResult> rows;
  for (const PolicyRun& run : policies(o, s)) {
    std::fprintf(stderr, "airt: running %s\n", run.name.c_str());
    auto r = run_scenario(*s.engine, *s.trace, *s.space, s.ppl, o.mix, run);
    if (!r.ok()) return report(r.error());
    rows.push_back(std::move(*r));
  }
  std::fputs(o.format == "json" ? scenario_json(o.scenario, rows, o.mix).c_str() : scenario_table(rows).c_str(),
             stdout);
  if (!o.plot.empty())
    if (Status st = write_file_atomic(o.plot, scenario_svg(o.scenario, rows, *s.space)); !st.ok())
      return report(st.error());
  return 0;
}

}  // namespace airt::cli
