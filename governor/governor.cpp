#include "governor/governor.h"

#include <algorithm>

namespace airt::governor {

Governor::Governor(Space space, QualityTable quality, const Profile* profile,
                   const GovernorConfig& config)
    : config_(config),
      space_(std::move(space)),
      quality_(std::move(quality)),
      costs_(space_, profile, config_.defaults),
      policy_(space_, quality_, costs_, config_.limits),
      trend_(config_.trend_window_s),
      clock_trend_(config_.trend_window_s),
      events_(config_.event_capacity) {
  state_.point = policy_.best_point();
  last_.point = last_.from = state_.point;
  last_.next = state_;
}

void Governor::observe(const StepRecord& step, const Snapshot& snap) {
  double ratio = 1.0;
  if (snap.cpu_mhz && snap.cpu_max_mhz && *snap.cpu_max_mhz > 0)
    ratio = *snap.cpu_mhz / *snap.cpu_max_mhz;
  costs_.observe(step, ratio, snap.power_w);
}

const Decision& Governor::decide(const Snapshot& snap, std::span<const RequestState> requests) {
  if (snap.temp_c) trend_.add(snap.t_s, *snap.temp_c);
  if (snap.cpu_mhz) clock_trend_.add(snap.t_s, *snap.cpu_mhz);
  const Limits& L = config_.limits;
  const Forecast ahead{trend_.predict(L.horizon_s),
                       clock_trend_.predict_low(std::max(L.horizon_s, L.dwell_s))};
  last_ = policy_.decide(state_, snap, ahead, requests, snap.t_s);
  state_ = last_.next;
  if (last_.changed) events_.push(snap.t_s, last_);
  return last_;
}

Admission Governor::admit(const Snapshot& snap, const RequestState& incoming,
                          std::span<const RequestState> active) {
  Admission a = policy_.admit(state_, snap, incoming, active);
  if (a.ok) Policy::remember(state_, incoming, active.size(), snap.t_s);
  return a;
}

}  // namespace airt::governor
