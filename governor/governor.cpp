#include "governor/governor.h"

namespace airt::governor {

Governor::Governor(Space space, QualityTable quality, const Profile* profile,
                   const GovernorConfig& config)
    : config_(config),
      space_(std::move(space)),
      quality_(std::move(quality)),
      costs_(space_, profile, config_.defaults),
      policy_(space_, quality_, costs_, config_.limits),
      trend_(config_.trend_window_s),
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
  last_ =
      policy_.decide(state_, snap, trend_.predict(config_.limits.horizon_s), requests, snap.t_s);
  state_ = last_.next;
  if (last_.changed) events_.push(snap.t_s, last_);
  return last_;
}

Admission Governor::admit(const Snapshot& snap, const RequestState& incoming,
                          std::span<const RequestState> active) const {
  return policy_.admit(state_, snap, incoming, active);
}

}  // namespace airt::governor
