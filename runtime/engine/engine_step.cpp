// Engine::step(): the scheduling loop every command runs (engine.h).
#include <algorithm>

#include "runtime/core/clock.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_slot.h"

namespace airt::engine {

bool Engine::step(Sink& sink) {
  const int64_t t0 = now_ns();
  step_draft_ns_ = 0;
  step_tokens_ = step_drafted_ = step_accepted_ = step_k_ = 0;
  apply_pending(sink);
  expire(sink, t0);
  if (n_busy_ == 0) return false;
  for (bool again = true; again;) {
    again = false;
    const int32_t n = schedule();
    int32_t n_logits = 0;
    const int32_t rows = gather(n, sink, n_logits);
    if (rows == 0) break;
    model::Batch b{{tok_rows_, size_t(rows)}, {pos_rows_, size_t(rows)}, {seq_rows_, size_t(rows)},
                   {logit_rows_, size_t(n_logits)}};
    Status st = backend_->eval(b, kv_);
    // The device is gone and the CPU fallback holds every live sequence again: the step
    // once more, there.
    if (!st.ok() && leave_device(st.error(), n, sink)) {
      again = n_busy_ > 0;
      continue;
    }
    if (!st.ok()) {
      for (int32_t k = 0; k < n; ++k)
        if (take_[k] > 0 && slots_[order_[k]].state != Slot::State::kFree) fail(slots_[order_[k]], sink, st.error());
      return n_busy_ > 0;
    }
    int32_t decoded = 0;
    for (int32_t k = 0; k < n; ++k) decoded += slots_[order_[k]].state == Slot::State::kDecode ? take_[k] : 0;
    deliver(sink, n_logits, now_ns());
    record(t0, rows, decoded, n);
  }
  return n_busy_ > 0;
}

// Cancellations and passed deadlines end their requests before the step runs.
void Engine::expire(Sink& sink, int64_t now) {
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    Slot& s = slots_[i];
    if (s.state == Slot::State::kFree) continue;
    if (s.cancel) finish(s, sink, FinishReason::kCancelled, s.text.flush());
    else if (s.deadline_ns > 0 && now >= s.deadline_ns) finish(s, sink, FinishReason::kDeadline, s.text.flush());
  }
}

// Orders the busy slots (order_) and gives each its rows (take_): every decoding sequence
// one, prefill chunks share the rest in order. Returns the number of busy slots.
int32_t Engine::schedule() {
  int32_t n = 0;
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    if (slots_[i].state == Slot::State::kFree) continue;
    int32_t j = n++;
    while (j > 0 && runs_before(slots_[i].key(), slots_[order_[j - 1]].key())) {
      order_[j] = order_[j - 1];
      --j;
    }
    order_[j] = i;
  }
  int32_t budget = cfg_.n_batch, logit_budget = cfg_.n_logits;
  for (int32_t k = 0; k < n; ++k) {
    take_[k] = slots_[order_[k]].state == Slot::State::kDecode ? 1 : 0;
    budget -= take_[k];
    logit_budget -= take_[k];
  }
  propose(n, budget, logit_budget);
  for (int32_t k = 0; k < n; ++k) {
    const Slot& s = slots_[order_[k]];
    if (s.state != Slot::State::kPrefill) continue;
    // A prefill row keeps logits when it is the prompt's last, or every row with logits_all.
    const int32_t rest = s.n_prompt - s.n_done;
    int32_t t = std::min({rest, cfg_.prefill_chunk, budget});
    if (s.logits_all) t = std::min(t, logit_budget);
    else if (t == rest && logit_budget < 1) t = std::max(0, t - 1);
    take_[k] = t;
    budget -= t;
    logit_budget -= s.logits_all ? t : (t > 0 && t == rest);
  }
  return n;
}

// Makes room in the KV cache for every slot's rows and fills the row tables. A slot the
// pool cannot take fails (after kept caches of idle slots are dropped). Returns the rows.
int32_t Engine::gather(int32_t n, Sink& sink, int32_t& n_logits) {
  int32_t rows = 0;
  n_logits = 0;
  for (int32_t k = 0; k < n; ++k) {
    if (take_[k] == 0) continue;
    Slot& s = slots_[order_[k]];
    const int32_t seq = order_[k];
    auto pos0 = kv_.seq_append(seq, take_[k]);
    if (!pos0.ok() && pos0.error().code == Error::kResourceExhausted && drop_kept_caches()) {
      pos0 = kv_.seq_append(seq, take_[k]);
    }
    if (!pos0.ok()) {
      take_[k] = 0;
      fail(s, sink, pos0.error());
      continue;
    }
    const bool decode = s.state == Slot::State::kDecode;
    for (int32_t i = 0; i < take_[k]; ++i) {
      // A decoding sequence: its next token, then the drafted ones to verify.
      tok_rows_[rows + i] = decode ? (i == 0 ? s.next : s.draft[i - 1]) : s.tokens[s.n_done + i];
      pos_rows_[rows + i] = *pos0 + i;
      seq_rows_[rows + i] = seq;
      if (decode || s.logits_all || s.n_done + i + 1 == s.n_prompt) {
        logit_rows_[n_logits] = rows + i;
        logit_slot_[n_logits] = seq;
        logit_pos_[n_logits++] = *pos0 + i;
      }
    }
    rows += take_[k];
    if (!decode) {
      s.n_done += take_[k];
      stats_.tokens_prefilled += take_[k];
    }
  }
  return rows;
}

// Hands the kept logits to their slots: scoring logits to the sink, the last row of a
// prompt or a decode row to the sampler.
void Engine::deliver(Sink& sink, int32_t n_logits, int64_t now) {
  for (int32_t k = 0; k < n_logits; ++k) {
    Slot& s = slots_[logit_slot_[k]];
    if (s.state == Slot::State::kFree) continue;
    if (s.state == Slot::State::kDecode && s.n_draft > 0) {
      const int32_t rows = s.n_draft;
      verify(s, sink, k, now);
      k += rows;
      continue;
    }
    const bool last = k + 1 == n_logits || logit_slot_[k + 1] != logit_slot_[k];
    if (s.logits_all && s.state == Slot::State::kPrefill) sink.on_logits(s.ticket, logit_pos_[k], backend_->logits(k));
    if (!last || (s.state == Slot::State::kPrefill && s.n_done < s.n_prompt)) continue;
    if (s.max_tokens == 0) {
      finish(s, sink, FinishReason::kLength, {});
      continue;
    }
    emit(s, sink, backend_->logits(k), now);
  }
}

// Samples the slot's next token from `logits` and reports it.
void Engine::emit(Slot& s, Sink& sink, std::span<const float> logits, int64_t now) {
  ++s.passes;
  take(s, sink, s.sampler->sample(logits), kv_.seq_pos(int32_t(&s - slots_)), now);
}

// Reports token `id` of the slot, to be evaluated at `next_pos`; false when that ended
// the request (end of generation, a stop string, max tokens, a full context).
bool Engine::take(Slot& s, Sink& sink, int32_t id, int32_t next_pos, int64_t now) {
  if (s.first_token_ns == 0) s.first_token_ns = now;
  if (!s.ignore_eos && tok_.is_eog(id)) return finish(s, sink, FinishReason::kStop, s.text.flush()), false;
  s.sampler->accept(id);
  ++s.n_gen;
  ++stats_.tokens_generated;
  ++step_tokens_;
  // The token joins the history before it is evaluated: a session saved at the end holds
  // it, so a resumed conversation evaluates it first.
  if (s.n_tokens < cfg_.n_ctx) s.tokens[s.n_tokens++] = id;
  else s.history_lost = true;
  TextStream::Delta d = s.text.push(tok_.piece(id));
  sink.on_token(s.ticket, id, d.text);
  if (d.stopped) return finish(s, sink, FinishReason::kStop, {}), false;
  const int32_t seq = int32_t(&s - slots_);
  const bool full = kv_.seq_window(seq) <= 0 && next_pos >= cfg_.n_ctx;
  if (s.n_gen >= s.max_tokens || full) return finish(s, sink, FinishReason::kLength, s.text.flush()), false;
  s.next = id;
  s.state = Slot::State::kDecode;
  return true;
}

}  // namespace airt::engine
