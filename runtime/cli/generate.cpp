#include "runtime/cli/generate.h"

#include <cstdio>
#include <iostream>
#include <vector>

#include "runtime/cli/commands.h"
#include "runtime/core/clock.h"
#include "runtime/text/chat_template.h"
#include "runtime/text/tokenizer.h"

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

struct Stats {
  int32_t n_prompt = 0;
  int32_t n_gen = 0;
  double prompt_ms = 0;
  double gen_ms = 0;
  double ttft_ms = 0;
};

// Evaluates `tokens` in batch-sized chunks.
Status eval_chunks(model::Context& ctx, std::span<const int32_t> tokens) {
  for (size_t i = 0; i < tokens.size(); i += size_t(ctx.n_batch())) {
    size_t n = std::min(tokens.size() - i, size_t(ctx.n_batch()));
    AIRT_TRY(ctx.eval(tokens.subspan(i, n)));
  }
  return {};
}

// Samples and streams up to n tokens after the context's current state. The loop
// allocates nothing: pieces go through a fixed buffer straight to stdout.
Status stream_tokens(model::Context& ctx, const text::Tokenizer& tok, text::Sampler& sampler, int32_t n,
                     Stats& st, double t_start, std::vector<int32_t>* history) {
  char piece[256];
  double t0 = now_ms();
  for (int32_t i = 0; i < n && ctx.n_past() < ctx.n_ctx(); ++i) {
    int32_t id = sampler.sample(ctx.logits());
    if (i == 0) st.ttft_ms = now_ms() - t_start;
    if (tok.is_eog(id)) break;
    sampler.accept(id);
    if (history) history->push_back(id);
    size_t len = tok.piece(id, piece, sizeof piece);
    std::fwrite(piece, 1, len, stdout);
    std::fflush(stdout);
    ++st.n_gen;
    AIRT_TRY(ctx.eval({&id, 1}));
  }
  st.gen_ms += now_ms() - t0;
  return {};
}

void print_stats(const LoadedModel& lm, const Stats& st) {
  std::fprintf(stderr, "\n");
  std::fprintf(stderr, "airt: load %.1f ms\n", lm.load_ms);
  std::fprintf(stderr, "airt: prompt %d tokens, %.1f ms, %.2f t/s\n", st.n_prompt, st.prompt_ms,
               st.prompt_ms > 0 ? st.n_prompt * 1000.0 / st.prompt_ms : 0.0);
  std::fprintf(stderr, "airt: generation %d tokens, %.1f ms, %.2f t/s\n", st.n_gen, st.gen_ms,
               st.gen_ms > 0 ? st.n_gen * 1000.0 / st.gen_ms : 0.0);
  std::fprintf(stderr, "airt: time to first token %.1f ms\n", st.ttft_ms);
}

}  // namespace

int generate_once(const GenerateOptions& o) {
  auto lm = load_model(o.model);
  if (!lm.ok()) return report(lm.error());
  auto tok = text::Tokenizer::from_gguf(lm->model->file());
  if (!tok.ok()) return report(tok.error());
  model::Context& ctx = *lm->ctx;

  std::vector<int32_t> prompt;
  if (Status s = (*tok)->encode(o.prompt, (*tok)->add_bos(), false, prompt); !s.ok()) return report(s.error());
  if (prompt.empty()) {
    // Nothing to condition on and no BOS in this vocabulary's habits: start from BOS anyway.
    if ((*tok)->bos() < 0) return report(errorf(Error::kRequestInvalid, "empty prompt and the model has no BOS token"));
    prompt.push_back((*tok)->bos());
  }
  if (int32_t(prompt.size()) > ctx.n_ctx()) {
    return report(errorf(Error::kRequestTooLarge, "prompt is %zu tokens, longer than the context of %d (raise --ctx)",
                         prompt.size(), ctx.n_ctx()));
  }
  if (int32_t(prompt.size()) + o.n_predict > ctx.n_ctx()) {
    std::fprintf(stderr, "airt: note: prompt (%zu) + -n %d exceeds --ctx %d; generation stops at the context end\n",
                 prompt.size(), o.n_predict, ctx.n_ctx());
  }
  auto sampler = text::Sampler::create(ctx.n_vocab(), o.sampling);
  if (!sampler.ok()) return report(sampler.error());
  for (int32_t id : prompt) (*sampler)->accept(id);

  Stats st;
  st.n_prompt = int32_t(prompt.size());
  double t0 = now_ms();
  if (Status s = eval_chunks(ctx, prompt); !s.ok()) return report(s.error());
  st.prompt_ms = now_ms() - t0;
  if (Status s = stream_tokens(ctx, **tok, **sampler, o.n_predict, st, t0, nullptr); !s.ok()) return report(s.error());
  std::fputc('\n', stdout);
  std::fflush(stdout);
  print_stats(*lm, st);
  return 0;
}

int chat_loop(const GenerateOptions& o) {
  auto lm = load_model(o.model);
  if (!lm.ok()) return report(lm.error());
  auto tok = text::Tokenizer::from_gguf(lm->model->file());
  if (!tok.ok()) return report(tok.error());
  auto tmpl = text::ChatTemplate::from_gguf(lm->model->file(), o.chat_template);
  if (!tmpl.ok()) return report(tmpl.error());
  model::Context& ctx = *lm->ctx;
  auto sampler = text::Sampler::create(ctx.n_vocab(), o.sampling);
  if (!sampler.ok()) return report(sampler.error());

  std::vector<text::ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  std::vector<int32_t> cached;  // tokens whose KV the context holds
  std::string line;
  bool tty = isatty(0);
  Stats total;
  while (true) {
    if (tty) std::fputs("> ", stderr);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    messages.push_back({"user", line});
    auto rendered = tmpl->apply(messages, true);
    if (!rendered.ok()) return report(rendered.error());
    std::vector<int32_t> ids;
    if (Status s = (*tok)->encode(*rendered, (*tok)->add_bos(), true, ids); !s.ok()) return report(s.error());
    // Reuse the KV of the longest common prefix with what is cached.
    size_t common = 0;
    while (common < cached.size() && common < ids.size() && cached[common] == ids[common]) ++common;
    if (common == ids.size() && common > 0) --common;  // something must be evaluated for fresh logits
    if (int32_t(ids.size()) >= ctx.n_ctx()) {
      std::fprintf(stderr, "airt: the conversation (%zu tokens) no longer fits the context of %d; start a new one\n",
                   ids.size(), ctx.n_ctx());
      return kExitRuntime;
    }
    ctx.truncate(int32_t(common));
    cached.assign(ids.begin(), ids.begin() + long(common));
    Stats st;
    double t0 = now_ms();
    std::span<const int32_t> rest(ids.data() + common, ids.size() - common);
    if (Status s = eval_chunks(ctx, rest); !s.ok()) return report(s.error());
    cached.insert(cached.end(), rest.begin(), rest.end());
    st.prompt_ms = now_ms() - t0;
    std::vector<int32_t> reply;
    if (Status s = stream_tokens(ctx, **tok, **sampler, o.n_predict, st, t0, &reply); !s.ok()) return report(s.error());
    cached.insert(cached.end(), reply.begin(), reply.end());
    std::fputc('\n', stdout);
    std::fflush(stdout);
    messages.push_back({"assistant", (*tok)->decode(reply)});
    total.n_gen += st.n_gen;
    total.gen_ms += st.gen_ms;
  }
  return 0;
}

}  // namespace airt::cli
