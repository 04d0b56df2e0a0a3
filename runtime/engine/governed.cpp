#include "runtime/engine/governed.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "runtime/core/clock.h"

namespace airt::engine {
namespace {

using governor::KvPrecision;
using governor::kNoLimit;

bool contains_kv(const std::vector<KvPrecision>& list, KvPrecision kv) {
  return std::find(list.begin(), list.end(), kv) != list.end();
}

// The engine's own KV types first, then q8_0 where that is cheaper and the model takes it.
std::vector<KvPrecision> default_kv(const Engine& e) {
  const model::KvTypes own = e.config().kv_types;
  std::vector<KvPrecision> kv{{own.k, own.v}};
  const KvPrecision q8{hal::DType::kQ8_0, hal::DType::kQ8_0};
  const bool wider = own.k == hal::DType::kF16 || own.k == hal::DType::kF32 ||
                     own.v == hal::DType::kF16 || own.v == hal::DType::kF32;
  if (wider && !contains_kv(kv, q8) && e.kv().check_types({q8.k, q8.v}).ok()) kv.push_back(q8);
  return kv;
}

// Every point of `space` through apply(); the first refusal is the error.
Status check_points(Engine& e, const governor::Space& space) {
  const governor::OperatingPoint before = e.point();
  Status st;
  for (size_t i = 0; i < space.size() && st.ok(); ++i) {
    st = e.apply(space[i]);
    if (!st.ok()) {
      st = errorf(st.error().code, "operating point %s: %s", space.describe(i).c_str(),
                  st.error().message.c_str());
    }
  }
  Status restore = e.apply(before);
  return st.ok() ? restore : st;
}

double ms_until(int64_t deadline_ns, int64_t now) {
  return deadline_ns > 0 ? double(deadline_ns - now) / 1e6 : kNoLimit;
}

}  // namespace

Result<governor::SpaceConfig> governed_space(Engine& e, const GovernedSpaceOptions& o) {
  const model::Model& m = e.model();
  governor::SpaceConfig c;
  c.tiers.clear();
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    c.tiers.push_back(t);
    c.tier_names.push_back(m.tier_name(t));
  }
  c.windows = o.windows.empty() ? std::vector<int32_t>{e.config().window} : o.windows;
  c.sinks = e.config().window > 0 ? e.config().sinks : o.sinks;
  c.context = e.n_ctx();
  c.kv = o.kv.empty() ? default_kv(e) : o.kv;
  if (!o.draft_lens.empty()) {
    c.draft_lens = o.draft_lens;
  } else {
    c.draft_lens = {0};
    if (e.n_drafters() > 0 && e.config().draft_max > 0) c.draft_lens.push_back(e.config().draft_max);
  }
  c.threads = o.threads.empty() ? std::vector<int32_t>{0} : o.threads;
  c.max_threads = e.backend().max_threads();
  // The planned backends, the engine's own first: the governor may move to the fallback.
  c.backends = {e.point().backend};
  if (e.fallback_backend() && e.point().backend != governor::BackendKind::kCpu)
    c.backends.push_back(governor::BackendKind::kCpu);
  auto space = governor::Space::make(c);
  if (!space.ok()) return space.error();
  AIRT_TRY(check_points(e, *space));
  return c;
}

governor::QualityTable governed_quality(std::span<const TierQuality> tiers) {
  governor::QualityTable q;
  for (const TierQuality& t : tiers)
    if (t.perplexity > 0) q.set_tier(t.tier, t.perplexity);
  return q;
}

GovernorLoop::GovernorLoop(Engine& e, governor::Sensors sensors, governor::Space space,
                           governor::QualityTable quality, const governor::Profile* profile,
                           GovernorLoopConfig config)
    : engine_(e),
      sensors_(std::move(sensors)),
      gov_(std::move(space), std::move(quality), profile, config.governor),
      config_(std::move(config)),
      t0_ns_(now_ns()),
      active_(size_t(e.config().n_slots)),
      states_(size_t(e.config().n_slots)),
      best_effort_(size_t(e.config().n_slots) * 2, 0) {}

Result<std::unique_ptr<GovernorLoop>> GovernorLoop::create(Engine& e, governor::Sensors sensors,
                                                           governor::Space space,
                                                           governor::QualityTable quality,
                                                           const governor::Profile* profile,
                                                           GovernorLoopConfig config) {
  std::unique_ptr<GovernorLoop> loop(new GovernorLoop(e, std::move(sensors), std::move(space),
                                                      std::move(quality), profile,
                                                      std::move(config)));
  const size_t start = loop->gov_.point_index();
  Status st = e.apply(loop->gov_.space()[start]);
  if (!st.ok()) {
    return errorf(st.error().code, "governor: the starting point %s: %s",
                  loop->gov_.space().describe(start).c_str(), st.error().message.c_str());
  }
  loop->applied_ = start;
  e.set_step_hook(&GovernorLoop::hook, loop.get());
  return loop;
}

GovernorLoop::~GovernorLoop() { engine_.set_step_hook(nullptr, nullptr); }

double GovernorLoop::now_s() const {
  if (config_.clock) return config_.clock();
  return config_.start_s + double(now_ns() - t0_ns_) / 1e9;
}

void GovernorLoop::hook(void* ctx, Engine& e, const governor::StepRecord& step) {
  (void)e;
  static_cast<GovernorLoop*>(ctx)->on_step(step);
}

void GovernorLoop::on_step(const governor::StepRecord& step) {
  snap_ = sensors_.read(now_s());
  gov_.observe(step, snap_);
  const governor::Decision& d = decide_and_apply();
  if (config_.on_step) config_.on_step(step, d);
}

void GovernorLoop::tick() {
  snap_ = sensors_.read(now_s());
  (void)decide_and_apply();
}

const governor::Decision& GovernorLoop::decide_and_apply() {
  const governor::Decision& d = gov_.decide(snap_, requests(now_ns()));
  report_last_event();
  const size_t want = gov_.point_index();
  if (want != applied_ && want != refused_) {
    Status st = engine_.apply(gov_.space()[want]);
    if (st.ok()) {
      applied_ = want;
      refused_ = SIZE_MAX;
    } else {
      // The governor believes it moved; the engine stays where it was. An event says so.
      ++apply_failures_;
      refused_ = want;
      governor::Decision failed;
      failed.from = applied_;
      failed.point = applied_;
      std::snprintf(failed.reason, sizeof(failed.reason), "the engine refused %s: %s",
                    gov_.space().describe(want).c_str(), st.error().message.c_str());
      gov_.note(snap_.t_s, failed);
      report_last_event();
    }
  }
  return d;
}

void GovernorLoop::report_last_event() {
  const governor::EventRing& ring = gov_.events();
  if (ring.total() == events_seen_) return;
  events_seen_ = ring.total();
  if (config_.on_event && ring.size() > 0) config_.on_event(ring.at(ring.size() - 1));
}

std::span<const governor::RequestState> GovernorLoop::requests(int64_t now) {
  const size_t n = engine_.active_requests(active_);
  for (size_t i = 0; i < n; ++i) {
    const ActiveRequest& a = active_[i];
    governor::RequestState& r = states_[i];
    r.tokens_left = a.tokens_left;
    r.prefill_left = a.prefill_left;
    r.ms_left_to_ttft = ms_until(a.first_token_deadline_ns, now);
    r.ms_left_to_deadline = ms_until(a.deadline_ns, now);
    r.best_effort = best_effort(a.ticket);
  }
  return {states_.data(), n};
}

bool GovernorLoop::best_effort(Ticket t) const {
  return std::find(best_effort_.begin(), best_effort_.end(), t) != best_effort_.end();
}

governor::Admission GovernorLoop::admit(Ticket ticket, const Request& r, bool best_effort) {
  const int64_t now = now_ns();
  snap_ = sensors_.read(now_s());  // an idle engine has not stepped for a while
  governor::RequestState in;
  in.tokens_left = r.prompt_only ? 0 : r.max_tokens;
  in.prefill_left = !r.prompt_tokens.empty() ? int32_t(r.prompt_tokens.size())
                                             : int32_t(r.prompt.size() / 3 + 1);
  in.ms_left_to_ttft = ms_until(r.first_token_deadline_ns, now);
  in.ms_left_to_deadline = ms_until(r.deadline_ns, now);
  in.best_effort = best_effort;
  const std::span<const governor::RequestState> active = requests(now);
  governor::Admission a = gov_.admit(snap_, in, active);
  if (a.ok && best_effort && ticket != 0 && !this->best_effort(ticket)) {
    // Entries of requests no longer in a slot are reused.
    for (Ticket& t : best_effort_) {
      const bool live = std::any_of(active_.begin(), active_.begin() + ptrdiff_t(active.size()),
                                    [&](const ActiveRequest& x) { return x.ticket == t; });
      if (t == 0 || !live) {
        t = ticket;
        break;
      }
    }
  }
  return a;
}

}  // namespace airt::engine
