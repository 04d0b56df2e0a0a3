// Speculative decoding inside the engine (engine.h): drafting before a step's forward
// pass, verifying after it.
//
// A decoding sequence that drafts k tokens takes k + 1 rows of the step: its next token
// and the guesses, at consecutive positions, every row's logits kept. verify() walks
// them in order with the lossless rule (draft/verify.h): each kept guess is emitted as
// the target's own token would be (text stream, stop strings, max tokens, sink); the
// first rejected one is replaced by the token the rule draws, and the positions of the
// guesses after it are cut from the KV cache (their blocks go back to the pool). When
// every guess is kept, the last row gives one more token. Either way the pass yields
// between 1 and k + 1 tokens, and the sequence's last token is evaluated next step, as in
// plain decoding.
#include <algorithm>

#include "runtime/core/clock.h"
#include "runtime/core/log.h"
#include "runtime/engine/draft/verify.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_slot.h"

namespace airt::engine {

DraftParams draft_params(const EngineConfig& c, int32_t n_vocab) {
  DraftParams p;
  p.n_seq = c.n_slots;
  p.n_ctx = c.n_ctx;
  p.max_draft = c.draft_max;
  p.chunk = std::max(c.draft_max, std::min(c.prefill_chunk, c.n_batch));
  p.n_threads = std::max(1, c.n_threads);
  p.kernels = c.kernels;
  p.kv_types = c.kv_types;
  p.kv_block = c.kv_block;
  p.n_vocab = n_vocab;
  return p;
}

Status Engine::create_drafters() {
  if (cfg_.drafters.size() > size_t(DraftLength::kMaxDrafters)) {
    return errorf(Error::kRequestOutOfRange, "%zu drafters: at most %d can be chained", cfg_.drafters.size(),
                  DraftLength::kMaxDrafters);
  }
  DraftParams p = draft_params(cfg_, n_vocab());
  if (!cpu_weights_.empty()) p.target_weights = &cpu_weights_;
  for (const DraftSpec& spec : cfg_.drafters) {
    drafters_[n_drafters_] = AIRT_TRY(drafter_create(spec, model_, p, backend_->host_pool()));
    AIRT_TRY(drafters_[n_drafters_]->carve(arena_));
    ++n_drafters_;
  }
  if (n_drafters_ > 0) AIRT_TRY(draft_len_.carve(arena_, cfg_.n_batch));
  return {};
}

// Gives each decoding sequence its draft for this step (in run order, within the row and
// logit budgets left after every sequence's next token).
void Engine::propose(int32_t n, int32_t& budget, int32_t& logit_budget) {
  if (n_drafters_ == 0 || point_.draft_len == 0) return;
  const int64_t t0 = now_ns();
  int32_t m = 0;
  for (int32_t k = 0; k < n; ++k) m += slots_[order_[k]].state == Slot::State::kDecode;
  // A model drafter's prior costs are its share of what a target pass reads at this tier.
  const double target_bytes = double(model::pass_bytes(model_.tier(point_.tier).weights));
  for (int32_t d = 0; d < n_drafters_; ++d)
    draft_len_.set_share(d, target_bytes > 0 ? double(drafters_[d]->pass_bytes()) / target_bytes : 0);
  for (int32_t k = 0; k < n; ++k) {
    Slot& s = slots_[order_[k]];
    s.n_draft = 0;
    if (s.state != Slot::State::kDecode || s.history_lost) continue;
    const int32_t seq = order_[k];
    // Guesses beyond the tokens still wanted, or past the context, would be wasted.
    int32_t cap = std::min({point_.draft_len, budget, logit_budget, s.max_tokens - s.n_gen - 1});
    if (kv_.seq_window(seq) <= 0) cap = std::min(cap, cfg_.n_ctx - kv_.seq_pos(seq) - 1);
    for (int32_t d = 0; d < n_drafters_ && cap > 0; ++d) {
      const std::span<const int32_t> history{s.tokens, size_t(s.n_tokens)};
      Drafter& dr = *drafters_[d];
      const int32_t want = !cfg_.draft_auto ? cap
                           : dr.costly()    ? draft_len_.choose(d, m, cap, dr.catch_up(seq, history), s.max_tokens - s.n_gen)
                                            : draft_len_.choose(d, m, cap);
      if (want <= 0) continue;
      const int64_t td = now_ns();
      auto got = dr.draft(seq, history, {s.draft, size_t(want)});
      if (!got.ok()) {
        AIRT_LOG_WARN("drafter %s: %s; drafting nothing this step", dr.name().c_str(), got.error().message.c_str());
        continue;
      }
      if (dr.costly()) {
        // A catch-up pass also gave the first guess: its time is the catch-up's, and the
        // guesses after it are what a drafted token costs.
        const Drafter::CatchUp cu = dr.last_catch_up();
        const double ms = double(now_ns() - td - cu.ns) / 1e6;
        if (cu.rows > 0) draft_len_.caught_up(d, cu.rows + 1, double(cu.ns) / 1e6);
        if (cu.rows == 0) draft_len_.drafted(d, std::max(*got, 1), ms);
        else if (*got > 1) draft_len_.drafted(d, *got - 1, ms);
      }
      if (*got <= 0) continue;
      s.n_draft = *got;
      s.draft_src = d;
      break;
    }
    take_[k] += s.n_draft;
    budget -= s.n_draft;
    logit_budget -= s.n_draft;
    step_k_ = std::max(step_k_, s.n_draft);
  }
  step_draft_ns_ = now_ns() - t0;
}

void Engine::verify(Slot& s, Sink& sink, int32_t k0, int64_t now) {
  const int32_t seq = int32_t(&s - slots_);
  const int32_t n = s.n_draft;
  const int32_t pos = logit_pos_[k0];  // where `next` was evaluated; guess i at pos + 1 + i
  s.n_draft = 0;
  ++s.passes;
  s.drafted += n;
  int32_t kept = 0;
  for (int32_t i = 0; i <= n; ++i) {
    auto p = s.sampler->distribution(backend_->logits(k0 + i));
    Verdict v{false, 0};
    if (i < n) v = verify_draft(p, s.draft[i], {}, s.sampler->rng());
    else v.token = draw_from(p, s.sampler->rng());
    if (v.accepted) ++kept, ++s.accepted;
    if (!v.accepted && i < n) kv_.seq_truncate(seq, pos + 1 + i);  // the rejected guesses' positions
    if (!take(s, sink, v.token, pos + 1 + i, now) || !v.accepted) break;
  }
  step_drafted_ += n;
  step_accepted_ += kept;
  stats_.drafted += n;
  stats_.accepted += kept;
  draft_len_.verified(s.draft_src, n, kept);
}

}  // namespace airt::engine
