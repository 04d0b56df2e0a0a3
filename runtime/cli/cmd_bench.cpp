// airt bench: prompt processing (pp) and generation (tg) speed, llama-bench style:
// mean ± stdev over repetitions, as a table, JSON or CSV.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/synthetic_model.h"
#include "runtime/cli/bench_ladder.h"
#include "runtime/cli/bench_report.h"
#include "runtime/cli/bench_rows.h"
#include "runtime/cli/bench_slots.h"
#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/clock.h"
#include "runtime/core/memory_plan.h"
#include "runtime/engine/engine.h"
#include "runtime/text/tokenizer.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt bench (-m MODEL | --synthetic SHAPE[:TYPE]) [-p N] [-n N] [-r N] [-t N] [-o md|json|csv]\n"
    "  -p N          prompt tokens for the pp test (default 512; 0 skips it)\n"
    "  -n N          generated tokens for the tg test (default 128; 0 skips it)\n"
    "  -r N          repetitions (default 5)\n"
    "  -t N          threads (default: physical cores)\n"
    "  -c N          context positions to allocate (default: just what the tests need)\n"
    "  -o FORMAT     md (default), json or csv\n"
    "  --synthetic S a random-weight model of a known shape: tinyllama-1.1b, llama-3.2-1b,\n"
    "                qwen2.5-0.5b, smollm2-135m; TYPE q4_0 (default), q8_0, q4_k, q6_k, f16,\n"
    "                f32 (K-quant rows that are not whole 256-blocks take q5_0 / q8_0)\n"
    "  --keep FILE   keep the synthetic model at FILE (default: a temporary file, removed)\n"
    "  --slots LIST  tg with S sequences decoded together through the engine, for each S in\n"
    "                LIST (e.g. 1,2,4); t/s is the aggregate over all sequences\n"
    "  --rows LIST   instead: ms per forward step of R rows for each R in LIST (1,2,4 or 1-64)\n";


// "1,2,4" -> {1, 2, 4}; empty on a malformed list.
std::vector<int32_t> parse_slots(const std::string& text) {
  std::vector<int32_t> out;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 1 || v > 256) return {};
    out.push_back(int32_t(v));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}


// Random but valid token ids, the same for every run.
std::vector<int32_t> bench_tokens(int32_t n, int32_t n_vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  uint64_t s = 88172645463325252ull;
  for (auto& id : ids) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    id = int32_t(s % uint64_t(n_vocab));
  }
  return ids;
}

struct NullSink : engine::Sink {
  ErrorInfo error;
  bool failed = false;
  void on_token(engine::Ticket, int32_t, std::string_view) override {}
  void on_finish(engine::Ticket, const engine::Finish&) override {}
  void on_error(engine::Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

// Runs `r` on the one-slot engine to its end; returns the seconds it took.
Result<double> run_timed(engine::Engine& e, const engine::Request& r) {
  NullSink sink;
  const double t0 = now_ms();
  AIRT_TRY(e.submit(1, r));
  while (e.step(sink)) {
  }
  if (sink.failed) return sink.error;
  return (now_ms() - t0) / 1000.0;
}

// Prompt processing: the tokens evaluated in chunks, nothing generated.
Result<double> run_pp(engine::Engine& e, const std::vector<int32_t>& ids) {
  engine::Request r;
  r.prompt_tokens = ids;
  r.prompt_only = true;
  return double(ids.size()) / AIRT_TRY(run_timed(e, r));
}

// Generation: n greedy tokens after a one-token prompt, end of text ignored.
Result<double> run_tg(engine::Engine& e, const std::vector<int32_t>& ids) {
  engine::Request r;
  r.prompt_tokens = {ids.data(), 1};
  r.max_tokens = int32_t(ids.size());
  r.ignore_eos = true;
  r.sampling.temp = 0;
  return double(ids.size()) / AIRT_TRY(run_timed(e, r));
}

// What `airt bench` was asked for.
struct BenchOptions {
  ModelOptions mo;
  std::string synthetic, keep, format = "md", slots_arg, rows_arg;
  int32_t n_prompt = 512, n_gen = 128, reps = 5;
  std::vector<int32_t> slots;
};

// Parses the command line; returns -1 to go on, else the exit status.
int parse_bench(int argc, char** argv, BenchOptions& o) {
  Args a("bench", argc, argv);
  while (a.next()) {
    if (o.mo.parse(a)) continue;
    if (a.i32("--n-prompt", "-p", o.n_prompt, 0, 1 << 16)) continue;
    if (a.i32("--n-gen", "-n", o.n_gen, 0, 1 << 16)) continue;
    if (a.i32("--repetitions", "-r", o.reps, 1, 1000)) continue;
    if (a.str("--output", "-o", o.format)) continue;
    if (a.str("--synthetic", nullptr, o.synthetic)) continue;
    if (a.str("--keep", nullptr, o.keep)) continue;
    if (a.str("--slots", nullptr, o.slots_arg)) continue;
    if (a.str("--rows", nullptr, o.rows_arg)) continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && o.mo.model_path.empty() == o.synthetic.empty()) a.fail("give exactly one of -m MODEL or --synthetic SHAPE");
  if (a.ok() && o.format != "md" && o.format != "json" && o.format != "csv") a.fail("-o must be md, json or csv");
  if (a.ok() && o.n_prompt == 0 && o.n_gen == 0) a.fail("-p 0 and -n 0 leave nothing to measure");
  o.slots = parse_slots(o.slots_arg);
  if (a.ok() && !o.slots_arg.empty() && o.slots.empty()) a.fail("--slots '" + o.slots_arg + "': expected a list like 1,2,4");
  if (a.ok() && !o.slots.empty() && o.n_gen == 0) a.fail("--slots measures tg: give -n N > 0");
  return a.ok() ? -1 : a.usage_error();
}

// Writes the --synthetic model to --keep (or a temporary file, returned to remove later).
Result<std::string> write_synthetic(BenchOptions& o) {
  auto spec = AIRT_TRY(bench::parse_synthetic_spec(o.synthetic));
  o.mo.model_path = o.keep.empty() ? "/tmp/airt-synthetic-" + std::to_string(getpid()) + ".gguf" : o.keep;
  std::fprintf(stderr, "airt: writing synthetic %s to %s\n", o.synthetic.c_str(), o.mo.model_path.c_str());
  AIRT_TRY(bench::write_synthetic_model(*spec.shape, spec.type, o.mo.model_path));
  return o.keep.empty() ? o.mo.model_path : std::string();
}

// One row: a warm-up run, then `reps` measured ones.
Result<BenchRow> measure(engine::Engine& e, const std::string& test, const std::vector<int32_t>& ids, int32_t reps) {
  BenchRow r{test, {}};
  const bool pp = test[0] == 'p';
  AIRT_TRY(pp ? run_pp(e, ids) : run_tg(e, ids));  // pages the weights in and settles the caches
  for (int i = 0; i < reps; ++i) r.ts.push_back(AIRT_TRY(pp ? run_pp(e, ids) : run_tg(e, ids)));
  bench_summarize(r);
  return r;
}

// --slots rows: batched decode on an engine of S slots each.
Status measure_slots(const LoadedModel& lm, const BenchOptions& o, std::vector<BenchRow>& rows) {
  for (int32_t n_slots : o.slots) {
    auto b = AIRT_TRY(SlotsBench::create(*lm.model, *lm.tok, o.mo, n_slots, o.n_gen));
    BenchRow r{"tg" + std::to_string(o.n_gen), {}, 0, 0, n_slots};
    for (int i = 0; i <= o.reps; ++i) {  // run 0 warms up
      const double ts = AIRT_TRY(b->run(uint64_t(i + 1)));
      if (i > 0) r.ts.push_back(ts);
    }
    bench_summarize(r);
    rows.push_back(r);
  }
  return {};
}

}  // namespace

int bench_main(int argc, char** argv) {
  if (bench_ladder_wanted(argc, argv)) return bench_ladder_main(argc, argv);
  BenchOptions o;
  if (int status = parse_bench(argc, argv, o); status >= 0) return status;
  std::string temp_model;
  if (!o.synthetic.empty()) {
    auto t = write_synthetic(o);
    if (!t.ok()) return report(t.error());
    temp_model = *t;
  }
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) unlink(path.c_str());
    }
  } cleanup{temp_model};
  if (!o.rows_arg.empty()) return bench_rows_main(o.mo, o.rows_arg, o.reps, o.format, o.synthetic.empty() ? o.mo.model_path : o.synthetic);

  ModelOptions& mo = o.mo;
  // The tests need max(p, n) positions; a larger -c is honoured (to measure its memory).
  mo.n_ctx = std::max(mo.n_ctx, std::max(o.n_prompt, o.n_gen) + 1);
  mo.n_batch = std::max(1, std::min(o.n_prompt, 512));
  auto lm = load_model(mo, mo.engine_config());
  if (!lm.ok()) return report(lm.error());
  engine::Engine& eng = *lm->engine;
  std::vector<BenchRow> rows;
  for (const bool pp : {true, false}) {
    const int32_t n = pp ? o.n_prompt : o.n_gen;
    if (n == 0 || (!pp && !o.slots.empty())) continue;
    auto r = measure(eng, (pp ? "pp" : "tg") + std::to_string(n), bench_tokens(n, eng.n_vocab()), o.reps);
    if (!r.ok()) return report(r.error());
    rows.push_back(std::move(*r));
  }
  if (Status s = measure_slots(*lm, o, rows); !s.ok()) return report(s.error());

  const auto& m = *lm->model;
  BenchInfo info{o.synthetic.empty() ? mo.model_path : o.synthetic, hal::dtype_name(m.main_type()), m.weight_bytes(),
                 eng.backend().max_threads(), eng.config().kernels->isa};
  print_bench_report(o.format, info, rows);
  return 0;
}

}  // namespace airt::cli
