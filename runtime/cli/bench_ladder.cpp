// airt bench --quality / --switch: the weight ladder measured. --quality prints each
// tier's perplexity on a text (cached beside the model, see engine/tier_quality.h);
// --switch measures what a tier switch costs the token after it.
#include "runtime/cli/bench_ladder.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/args.h"
#include "runtime/core/file.h"
#include "runtime/engine/tier_quality.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt bench -m MODEL --ladder F[,F...] (--quality [--text FILE] | --switch [-n N])\n"
    "  --quality      perplexity of each tier on a short built-in text (or --text FILE),\n"
    "                 measured once and cached in MODEL.gguf.airt-quality.json\n"
    "  --state-dir D  where the cache goes when the model's folder is not writable\n"
    "                 (default: $XDG_STATE_HOME/airt or ~/.local/state/airt)\n"
    "  --switch       step time of the token before and after switching tier 0 -> each tier,\n"
    "                 mid-generation, N tokens on each side (default 16)\n";

struct LadderOptions {
  ModelOptions mo;
  bool quality = false, switch_latency = false;
  std::string text_path, state_dir;
  int32_t n = 16;
};

std::string default_state_dir() {
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/airt";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/airt";
  return "";
}

int print_quality(engine::Engine& e, const LadderOptions& o) {
  std::string text(engine::tier_quality_default_text());
  if (!o.text_path.empty()) {
    auto t = read_file(o.text_path);
    if (!t.ok()) return report(t.error());
    text = std::move(*t);
  }
  auto q = engine::tier_quality_measure(e, text, o.state_dir.empty() ? default_state_dir() : o.state_dir);
  if (!q.ok()) return report(q.error());
  std::printf("| tier | type | file | perplexity | tokens | |\n|---:|---|---|---:|---:|---|\n");
  for (const engine::TierQuality& t : *q) {
    std::printf("| %d | %s | %s | %.4f | %d | %s |\n", t.tier, e.model().tier_name(t.tier), t.path.c_str(),
                t.perplexity, t.tokens, t.cached ? "cached" : "measured");
  }
  return 0;
}

// Records step times; switches to `to` after `at` steps.
struct SwitchHook {
  int32_t to = 0, at = 0, steps = 0;
  std::vector<float> ms;
  static void hook(void* ctx, engine::Engine& e, const governor::StepRecord& r) {
    auto* s = static_cast<SwitchHook*>(ctx);
    s->ms.push_back(r.wall_ms);
    if (++s->steps == s->at) {
      governor::OperatingPoint p = e.point();
      p.tier = s->to;
      (void)e.apply(p);
    }
  }
};

struct NullSink : engine::Sink {
  ErrorInfo error;
  bool failed = false;
  void on_token(engine::Ticket, int32_t, std::string_view) override {}
  void on_finish(engine::Ticket, const engine::Finish&) override {}
  void on_error(engine::Ticket, const ErrorInfo& e) override { failed = true, error = e; }
};

double mean(const std::vector<float>& v, size_t b, size_t e) {
  double s = 0;
  for (size_t i = b; i < e; ++i) s += v[i];
  return e > b ? s / double(e - b) : 0;
}

int print_switch(engine::Engine& e, int32_t n) {
  std::printf("| switch | ms/token before | first token after | ms/token after |\n|---|---:|---:|---:|\n");
  const std::vector<int32_t> prompt = {1};
  // Run -1 warms tier 0 up (pages, caches) and is not printed; the other tiers are met
  // as a governor meets them: mapped, perhaps not yet paged in.
  for (int32_t k = -1; k < e.model().n_tiers(); ++k) {
    const int32_t to = k < 0 ? 0 : k;
    governor::OperatingPoint p = e.point();
    p.tier = 0;
    if (Status s = e.apply(p); !s.ok()) return report(s.error());
    SwitchHook h;
    h.to = to;
    h.at = n + 1;  // the prompt step, then n decode steps on tier 0
    e.set_step_hook(&SwitchHook::hook, &h);
    engine::Request r;
    r.prompt_tokens = prompt;
    r.max_tokens = 2 * n + 1;
    r.ignore_eos = true;
    r.sampling.temp = 0;
    NullSink sink;
    if (Status s = e.submit(1, r); !s.ok()) return report(s.error());
    while (e.step(sink)) {
    }
    e.set_step_hook(nullptr, nullptr);
    if (sink.failed) return report(sink.error);
    const size_t at = size_t(h.at);
    if (k < 0 || h.ms.size() < at + 2) continue;
    std::printf("| %s -> %s | %.3f | %.3f | %.3f |\n", e.model().tier_name(0), e.model().tier_name(to),
                mean(h.ms, 1, at), double(h.ms[at]), mean(h.ms, at + 1, h.ms.size()));
  }
  return 0;
}

}  // namespace

bool bench_ladder_wanted(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quality") || !std::strcmp(argv[i], "--switch")) return true;
  }
  return false;
}

int bench_ladder_main(int argc, char** argv) {
  LadderOptions o;
  Args a("bench", argc, argv);
  while (a.next()) {
    if (o.mo.parse(a)) continue;
    if (a.flag("--quality", o.quality)) continue;
    if (a.flag("--switch", o.switch_latency)) continue;
    if (a.str("--text", nullptr, o.text_path)) continue;
    if (a.str("--state-dir", nullptr, o.state_dir)) continue;
    if (a.i32("--n-gen", "-n", o.n, 1, 4096)) continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && o.mo.model_path.empty()) a.fail("missing -m MODEL");
  if (!a.ok()) return a.usage_error();
  // One engine for both: chunks of 128 scored positions, room for the switch run.
  o.mo.n_batch = 128;
  o.mo.n_ctx = std::max({o.mo.n_ctx, 2 * o.n + 2, 128});
  engine::EngineConfig c = o.mo.engine_config();
  c.n_logits = 128;
  auto lm = load_model(o.mo, c);
  if (!lm.ok()) return report(lm.error());
  if (o.quality) {
    if (int rc = print_quality(*lm->engine, o); rc != 0) return rc;
  }
  if (o.switch_latency) return print_switch(*lm->engine, o.n);
  return 0;
}

}  // namespace airt::cli
