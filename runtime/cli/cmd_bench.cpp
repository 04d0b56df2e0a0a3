// airt bench: prompt processing (pp) and generation (tg) speed, llama-bench style:
// mean ± stdev over repetitions, as a table, JSON or CSV.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/synthetic_model.h"
#include "runtime/cli/bench_slots.h"
#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/clock.h"
#include "runtime/core/memory_plan.h"
#include "runtime/service/json_util.h"
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
    "                LIST (e.g. 1,2,4); t/s is the aggregate over all sequences\n";

struct Row {
  std::string test;  // "pp512", "tg128"
  std::vector<double> ts;
  double mean = 0, stdev = 0;
  int n_slots = 1;  // sequences decoded together; ts is their aggregate
};

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

void summarize(Row& r) {
  double s = 0;
  for (double v : r.ts) s += v;
  r.mean = s / double(r.ts.size());
  double var = 0;
  for (double v : r.ts) var += (v - r.mean) * (v - r.mean);
  r.stdev = r.ts.size() > 1 ? std::sqrt(var / double(r.ts.size() - 1)) : 0;
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

}  // namespace

int bench_main(int argc, char** argv) {
  ModelOptions mo;
  std::string synthetic, keep, format = "md", slots_arg;
  int32_t n_prompt = 512, n_gen = 128, reps = 5;
  Args a("bench", argc, argv);
  while (a.next()) {
    if (mo.parse(a)) continue;
    if (a.i32("--n-prompt", "-p", n_prompt, 0, 1 << 16)) continue;
    if (a.i32("--n-gen", "-n", n_gen, 0, 1 << 16)) continue;
    if (a.i32("--repetitions", "-r", reps, 1, 1000)) continue;
    if (a.str("--output", "-o", format)) continue;
    if (a.str("--synthetic", nullptr, synthetic)) continue;
    if (a.str("--keep", nullptr, keep)) continue;
    if (a.str("--slots", nullptr, slots_arg)) continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && mo.model_path.empty() == synthetic.empty()) a.fail("give exactly one of -m MODEL or --synthetic SHAPE");
  if (a.ok() && format != "md" && format != "json" && format != "csv") a.fail("-o must be md, json or csv");
  if (a.ok() && n_prompt == 0 && n_gen == 0) a.fail("-p 0 and -n 0 leave nothing to measure");
  std::vector<int32_t> slots = parse_slots(slots_arg);
  if (a.ok() && !slots_arg.empty() && slots.empty()) a.fail("--slots '" + slots_arg + "': expected a list like 1,2,4");
  if (a.ok() && !slots.empty() && n_gen == 0) a.fail("--slots measures tg: give -n N > 0");
  if (!a.ok()) return a.usage_error();

  std::string temp_model;
  if (!synthetic.empty()) {
    auto spec = bench::parse_synthetic_spec(synthetic);
    if (!spec.ok()) return report(spec.error());
    mo.model_path = keep.empty() ? "/tmp/airt-synthetic-" + std::to_string(getpid()) + ".gguf" : keep;
    if (keep.empty()) temp_model = mo.model_path;
    std::fprintf(stderr, "airt: writing synthetic %s to %s\n", synthetic.c_str(), mo.model_path.c_str());
    if (Status s = bench::write_synthetic_model(*spec->shape, spec->type, mo.model_path); !s.ok()) return report(s.error());
  }
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) unlink(path.c_str());
    }
  } cleanup{temp_model};

  // The tests need max(p, n) positions; a larger -c is honoured (to measure its memory).
  mo.n_ctx = std::max(mo.n_ctx, std::max(n_prompt, n_gen) + 1);
  mo.n_batch = std::max(1, std::min(n_prompt, 512));
  auto lm = load_model(mo, mo.engine_config());
  if (!lm.ok()) return report(lm.error());
  engine::Engine& eng = *lm->engine;

  std::vector<Row> rows;
  if (n_prompt > 0) rows.push_back({"pp" + std::to_string(n_prompt), {}});
  if (n_gen > 0 && slots.empty()) rows.push_back({"tg" + std::to_string(n_gen), {}});
  for (Row& r : rows) {
    const bool pp = r.test[0] == 'p';
    auto ids = bench_tokens(pp ? n_prompt : n_gen, eng.n_vocab());
    // One warm-up run pages the weights in and settles the caches.
    auto warm = pp ? run_pp(eng, ids) : run_tg(eng, ids);
    if (!warm.ok()) return report(warm.error());
    for (int i = 0; i < reps; ++i) {
      auto ts = pp ? run_pp(eng, ids) : run_tg(eng, ids);
      if (!ts.ok()) return report(ts.error());
      r.ts.push_back(*ts);
    }
    summarize(r);
  }
  if (!slots.empty()) {
    for (int32_t n_slots : slots) {
      auto b = SlotsBench::create(*lm->model, *lm->tok, mo, n_slots, n_gen);
      if (!b.ok()) return report(b.error());
      Row r{"tg" + std::to_string(n_gen), {}, 0, 0, n_slots};
      for (int i = 0; i <= reps; ++i) {  // run 0 warms up
        auto ts = (*b)->run(uint64_t(i + 1));
        if (!ts.ok()) return report(ts.error());
        if (i > 0) r.ts.push_back(*ts);
      }
      summarize(r);
      rows.push_back(r);
    }
  }

  const auto& m = *lm->model;
  const char* type = hal::dtype_name(m.main_type());
  const char* isa = eng.config().kernels->isa;
  const int threads = eng.backend().max_threads();
  const std::string name = synthetic.empty() ? mo.model_path : synthetic;
  if (format == "json") {
    std::string quoted;  // the model name as a JSON string: a path may hold quotes
    service::json_append_string(quoted, name);
    std::printf("[\n");
    for (size_t i = 0; i < rows.size(); ++i) {
      std::printf("  {\"model\": %s, \"model_type\": \"%s\", \"model_bytes\": %zu, "
                  "\"test\": \"%s\", \"n_threads\": %d, \"isa\": \"%s\", \"n_slots\": %d, \"t_s_mean\": %.3f, "
                  "\"t_s_stdev\": %.3f}%s\n",
                  quoted.c_str(), type, m.weight_bytes(), rows[i].test.c_str(), threads, isa, rows[i].n_slots,
                  rows[i].mean, rows[i].stdev, i + 1 < rows.size() ? "," : "");
    }
    std::printf("]\n");
  } else if (format == "csv") {
    // RFC 4180: a field holding a comma, quote or line break is quoted, quotes doubled.
    std::string field = name;
    if (name.find_first_of(",\"\r\n") != std::string::npos) {
      field = "\"";
      for (char c : name) {
        if (c == '"') field += '"';
        field += c;
      }
      field += "\"";
    }
    std::printf("model,model_type,model_bytes,test,n_threads,isa,n_slots,t_s_mean,t_s_stdev\n");
    for (auto& r : rows)
      std::printf("%s,%s,%zu,%s,%d,%s,%d,%.3f,%.3f\n", field.c_str(), type, m.weight_bytes(), r.test.c_str(), threads,
                  isa, r.n_slots, r.mean, r.stdev);
  } else {
    std::printf("| model | type | size | threads | isa | slots | test | t/s |\n|---|---|---|---|---|---|---|---|\n");
    for (auto& r : rows)
      std::printf("| %s | %s | %s | %d | %s | %d | %s | %.2f ± %.2f |\n", name.c_str(), type,
                  format_bytes(m.weight_bytes()).c_str(), threads, isa, r.n_slots, r.test.c_str(), r.mean, r.stdev);
  }
  return 0;
}

}  // namespace airt::cli
