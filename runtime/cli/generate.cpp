#include "runtime/cli/generate.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <vector>

#include "runtime/cli/commands.h"
#include "runtime/core/clock.h"
#include "runtime/text/chat_template.h"

namespace airt::cli {

bool GenerateOptions::parse_sampling(Args& a, bool& have_seed) {
  text::SamplerParams& s = sampling;
  if (a.f32("--temp", nullptr, s.temp, 0.0, 100.0)) return true;
  if (a.i32("--top-k", nullptr, s.top_k, 0, 1 << 24)) return true;
  if (a.f32("--top-p", nullptr, s.top_p, 0.0, 1.0)) return true;
  if (a.f32("--min-p", nullptr, s.min_p, 0.0, 1.0)) return true;
  if (a.f32("--repeat-penalty", nullptr, s.repeat_penalty, 0.0, 100.0)) return true;
  if (a.i32("--repeat-last-n", nullptr, s.repeat_last_n, 0, 1 << 20)) return true;
  if (a.u64("--seed", nullptr, s.seed)) {
    have_seed = true;
    return true;
  }
  return false;
}

namespace {

// Streams the engine's text to stdout as it becomes final; keeps the ids and the outcome.
struct StdoutSink : engine::Sink {
  std::vector<int32_t>* ids = nullptr;  // generated ids, when wanted
  engine::Finish finish;
  ErrorInfo error;
  bool failed = false;
  void on_token(engine::Ticket, int32_t id, std::string_view delta) override {
    if (ids) ids->push_back(id);
    std::fwrite(delta.data(), 1, delta.size(), stdout);
    std::fflush(stdout);
  }
  void on_finish(engine::Ticket, const engine::Finish& f) override {
    std::fwrite(f.tail.data(), 1, f.tail.size(), stdout);
    std::fflush(stdout);
    finish = f;
  }
  void on_error(engine::Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

// Runs one request on the one-slot engine to its end.
Status run_request(engine::Engine& e, const engine::Request& r, StdoutSink& sink) {
  AIRT_TRY(e.submit(1, r));
  while (e.step(sink)) {
  }
  if (sink.failed) return sink.error;
  return {};
}

void print_stats(const LoadedModel& lm, const engine::Finish& f) {
  const double gen_ms = f.total_ms - f.first_token_ms;
  const int32_t evaluated = f.prompt_tokens - f.cached_tokens;
  std::fprintf(stderr, "\n");
  std::fprintf(stderr, "airt: load %.1f ms\n", lm.load_ms);
  std::fprintf(stderr, "airt: prompt %d tokens, %.1f ms, %.2f t/s\n", evaluated, f.first_token_ms,
               f.first_token_ms > 0 ? evaluated * 1000.0 / f.first_token_ms : 0.0);
  std::fprintf(stderr, "airt: generation %d tokens, %.1f ms, %.2f t/s\n", f.completion_tokens, gen_ms,
               gen_ms > 0 && f.completion_tokens > 1 ? (f.completion_tokens - 1) * 1000.0 / gen_ms : 0.0);
  std::fprintf(stderr, "airt: time to first token %.1f ms\n", f.first_token_ms);
  const engine::Engine& e = *lm.engine;
  if (e.n_drafters() > 0 && f.completion_tokens > 0) {
    std::fprintf(stderr, "airt: speculative: %d drafted, %d accepted (%.0f%%), %.2f target passes per token\n",
                 f.drafted, f.accepted, f.drafted ? 100.0 * f.accepted / f.drafted : 0.0,
                 double(f.passes) / f.completion_tokens);
    for (int32_t d = 0; d < e.n_drafters(); ++d) {
      std::fprintf(stderr, "airt:   %s: acceptance %.2f, %.2f ms per drafted token\n", e.drafter(d).name().c_str(),
                   e.draft_length().acceptance(d), e.draft_length().draft_ms(d));
    }
  }
}

}  // namespace

int generate_once(const GenerateOptions& o) {
  engine::EngineConfig c = o.model.engine_config();
  c.max_prompt_bytes = int32_t(std::min<size_t>(o.prompt.size(), INT32_MAX / 2));  // the default when smaller
  c.max_repeat_last_n = std::max(c.max_repeat_last_n, o.sampling.repeat_last_n);
  auto lm = load_model(o.model, c);
  if (!lm.ok()) return report(lm.error());
  engine::Engine& e = *lm->engine;
  std::unique_ptr<engine::GovernorLoop> gov;
  if (o.governor.enabled) {
    auto g = run_governor_start(e, o.governor);
    if (!g.ok()) return report(g.error());
    gov = std::move(*g);
  }
  engine::Request r;
  r.prompt = o.prompt;
  r.parse_special = false;
  r.max_tokens = o.n_predict;
  r.sampling = o.sampling;
  r.session_path = o.session;
  r.continue_session = !o.session.empty();
  if (!o.session.empty() && access(o.session.c_str(), F_OK) == 0) {
    std::fprintf(stderr, "airt: resumed the conversation from %s\n", o.session.c_str());
  }
  StdoutSink sink;
  if (Status s = run_request(e, r, sink); !s.ok()) {
    if (s.error().code == Error::kRequestTooLarge && s.error().message.find("context") != std::string::npos) {
      return report(errorf(s.error().code, "%s (raise --ctx)", s.error().message.c_str()));
    }
    return report(s.error());
  }
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (sink.finish.reason == engine::FinishReason::kLength && sink.finish.completion_tokens < o.n_predict) {
    std::fprintf(stderr, "airt: note: generation stops at the context end (--ctx %d)\n", e.n_ctx());
  }
  print_stats(*lm, sink.finish);
  if (gov) run_governor_report(*gov);
  return 0;
}

int chat_loop(const GenerateOptions& o) {
  engine::EngineConfig c = o.model.engine_config();
  c.keep_cache = true;
  c.max_repeat_last_n = std::max(c.max_repeat_last_n, o.sampling.repeat_last_n);  // each turn reuses the KV of the conversation so far
  auto lm = load_model(o.model, c);
  if (!lm.ok()) return report(lm.error());
  std::unique_ptr<engine::GovernorLoop> gov;
  if (o.governor.enabled) {
    auto g = run_governor_start(*lm->engine, o.governor);
    if (!g.ok()) return report(g.error());
    gov = std::move(*g);
  }
  auto tmpl = text::ChatTemplate::from_gguf(lm->model->file(), o.chat_template);
  if (!tmpl.ok()) return report(tmpl.error());
  engine::Engine& e = *lm->engine;
  const text::Tokenizer& tok = *lm->tok;

  std::vector<text::ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  std::string line;
  const bool tty = isatty(0);
  while (true) {
    if (tty) std::fputs("> ", stderr);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    messages.push_back({"user", line});
    auto rendered = tmpl->apply(messages, true);
    if (!rendered.ok()) return report(rendered.error());
    engine::Request r;
    r.prompt = *rendered;
    r.parse_special = true;
    r.max_tokens = std::max(1, o.n_predict);
    r.sampling = o.sampling;
    std::vector<int32_t> reply;
    StdoutSink sink;
    sink.ids = &reply;
    if (Status s = run_request(e, r, sink); !s.ok()) {
      if (s.error().code == Error::kRequestTooLarge) {
        std::fprintf(stderr, "airt: the conversation no longer fits the context of %d; start a new one\n", e.n_ctx());
        return kExitRuntime;
      }
      return report(s.error());
    }
    std::fputc('\n', stdout);
    std::fflush(stdout);
    messages.push_back({"assistant", tok.decode(reply)});
  }
  if (gov) run_governor_report(*gov);
  return 0;
}

}  // namespace airt::cli
