// The operating point and the step records (engine.h).
#include <algorithm>

#include "runtime/core/clock.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_slot.h"

namespace airt::engine {

Status Engine::apply(const governor::OperatingPoint& p) {
  if (p.tier < 0 || p.tier >= model_.n_tiers()) {
    return errorf(Error::kRequestOutOfRange, "weight tier %d: the model has %d tier(s)", p.tier, model_.n_tiers());
  }
  if (p.window < 0 || p.sinks < 0) return errorf(Error::kRequestOutOfRange, "window and sinks must not be negative");
  if (plan_window_ > 0 && (p.window == 0 || p.window > plan_window_ || p.sinks > plan_sinks_)) {
    return errorf(Error::kRequestOutOfRange,
                  "window %d + %d sinks: the plan holds windows of 1..%d with up to %d sinks (plan a wider "
                  "--max-window)",
                  p.window, p.sinks, plan_window_, plan_sinks_);
  }
  if (p.window > 0 && p.window > cfg_.n_ctx && plan_window_ == 0) {
    return errorf(Error::kRequestOutOfRange, "window %d exceeds the context of %d", p.window, cfg_.n_ctx);
  }
  AIRT_TRY(kv_.check_types({p.kv_k, p.kv_v}));
  if (p.draft_len < 0 || p.draft_len > cfg_.draft_max) {
    return errorf(Error::kRequestOutOfRange, "draft length %d: the plan drafts 0..%d tokens%s", p.draft_len,
                  cfg_.draft_max, n_drafters_ == 0 ? " (no drafter configured: --draft)" : " (--draft-max)");
  }
  const model::Backend* to = backend_for(p.backend);
  if (!to && main_lost_ && p.backend == cfg_.backend) {
    return errorf(Error::kRequestOutOfRange, "backend %s: its device was lost; this engine runs on the cpu from now on",
                  governor::backend_kind_name(p.backend));
  }
  if (!to) {
    return errorf(Error::kRequestOutOfRange,
                  "backend %s: this engine runs on %s and planned no other backend (start it with --backend auto, "
                  "or --backend vulkan --backend-fallback cpu, to move between vulkan and the cpu)",
                  governor::backend_kind_name(p.backend), governor::backend_kind_name(cfg_.backend));
  }
  if (p.threads < 0 || p.threads > to->max_threads()) {
    return errorf(Error::kRequestOutOfRange, "%d threads: the plan has %d", p.threads, to->max_threads());
  }
  pending_ = p;
  if (pending_.window == 0) pending_.sinks = 0;
  if (pending_.threads == 0) pending_.threads = to->max_threads();
  has_pending_ = true;
  return {};
}

// At a step boundary: every knob of the pending point takes effect for every sequence.
// Each was checked by apply(), so none of these can fail.
void Engine::apply_pending(Sink& sink) {
  if (!has_pending_) return;
  has_pending_ = false;
  governor::OperatingPoint p = pending_;
  model::Backend* to = backend_for(p.backend);
  if (!to) {  // the device was lost since apply(): the rest of the point, on the cpu
    to = backend_;
    p.backend = point_.backend;
    p.threads = backend_->threads();
  }
  const bool moved = to != backend_;
  if (moved) switch_backend(*to, sink);
  if (moved || p.tier != point_.tier) (void)backend_->set_tier(p.tier);
  if (moved || p.threads != point_.threads) (void)backend_->set_threads(p.threads);
  // A pass costs what it costs at one tier, thread count and backend: the draft model relearns.
  if (moved || p.tier != point_.tier || p.threads != point_.threads) draft_len_.reset_costs();
  if (p.kv_k != point_.kv_k || p.kv_v != point_.kv_v) (void)kv_.set_types({p.kv_k, p.kv_v});
  if (p.window != point_.window || p.sinks != point_.sinks) {
    for (int32_t i = 0; i < cfg_.n_slots; ++i)
      if (slots_[i].state != Slot::State::kFree) kv_.set_window(i, p.window, p.sinks);
  }
  point_ = p;
}

Status Engine::set_window(int32_t window, int32_t sinks) {
  governor::OperatingPoint p = has_pending_ ? pending_ : point_;
  p.window = std::max(0, window);
  p.sinks = std::max(0, sinks);
  return apply(p);
}

Status Engine::set_kv_types(model::KvTypes t) {
  governor::OperatingPoint p = has_pending_ ? pending_ : point_;
  p.kv_k = t.k;
  p.kv_v = t.v;
  return apply(p);
}

void Engine::record(int64_t t0, int32_t rows, int32_t decoded, int32_t n_seq) {
  const int64_t now = now_ns();
  governor::StepRecord& r = ring_[n_records_ % kStepRing];
  r.start_ns = t0;
  r.rows_decode = decoded;
  r.rows_prefill = rows - decoded;
  r.drafted = step_drafted_;
  r.accepted = step_accepted_;
  r.draft_k = step_k_;
  r.sequences = n_seq;
  r.wall_ms = float(double(now - t0) / 1e6);
  r.draft_ms = float(double(step_draft_ns_) / 1e6);
  r.point = point_;
  ++n_records_;
  ++stats_.steps;
  stats_.draft_k = step_k_;
  if (rows == decoded && n_drafters_ > 0) draft_len_.step(rows, double(now - t0 - step_draft_ns_) / 1e6);
  const double dt = double(now - t0) / 1e9;
  if (decoded > 0 && dt > 0) {
    const double rate = double(step_tokens_) / dt;
    stats_.decode_tokens_per_s = stats_.decode_tokens_per_s > 0 ? 0.8 * stats_.decode_tokens_per_s + 0.2 * rate : rate;
  }
  if (hook_) hook_(hook_ctx_, *this, r);
}

size_t Engine::recent_steps(std::span<governor::StepRecord> out) const {
  const int64_t have = std::min<int64_t>(n_records_, kStepRing);
  const size_t n = std::min(out.size(), size_t(have));
  for (size_t i = 0; i < n; ++i) out[i] = ring_[(n_records_ - int64_t(n) + int64_t(i)) % kStepRing];
  return n;
}

size_t Engine::active_requests(std::span<ActiveRequest> out) const {
  size_t n = 0;
  for (int32_t i = 0; i < cfg_.n_slots && n < out.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.state == Slot::State::kFree) continue;
    ActiveRequest& a = out[n++];
    a.ticket = s.ticket;
    a.tokens_left = std::max(0, s.max_tokens - s.n_gen);
    a.prefill_left = std::max(0, s.n_prompt - s.n_done);
    a.first_token_deadline_ns = s.first_token_ns != 0 ? 0 : s.first_deadline_ns;
    a.deadline_ns = s.deadline_ns;
  }
  return n;
}

EngineStats Engine::stats() const {
  EngineStats st = stats_;
  st.slots_busy = n_busy_;
  st.kv_blocks_total = kv_.blocks_total();
  st.kv_blocks_used = kv_.blocks_total() - kv_.blocks_free();
  st.point = point_;
  st.window = point_.window;
  st.sinks = point_.sinks;
  st.kv_types = {point_.kv_k, point_.kv_v};
  st.tier_name = model_.tier_name(point_.tier);
  return st;
}

}  // namespace airt::engine
