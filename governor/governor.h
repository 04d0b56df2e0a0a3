// The governor: sensors' snapshots in, an operating point out, every change an event.
// It owns the models and the policy's state and is what the engine/service loop calls:
//   - observe() after each engine step (learns the cost of the point it ran at),
//   - decide() at a step boundary (the point for the next step; apply it if changed),
//   - admit() when a request arrives (deadline_unmeetable / overloaded or ok).
// Nothing here allocates after construction; a replay gives the same decisions every time.
#pragma once

#include <optional>
#include <span>

#include "governor/events.h"
#include "governor/model/cost_model.h"
#include "governor/model/quality.h"
#include "governor/model/space.h"
#include "governor/model/temperature_trend.h"
#include "governor/policy.h"

namespace airt::governor {

struct GovernorConfig {
  Limits limits;
  double trend_window_s = 10.0;
  size_t event_capacity = 64;
  CostDefaults defaults;
};

class Governor {
 public:
  // Starts at the best-quality point. `profile` may be null (defaults); it is copied from.
  Governor(Space space, QualityTable quality, const Profile* profile, const GovernorConfig& config);
  Governor(const Governor&) = delete;
  Governor& operator=(const Governor&) = delete;

  void observe(const StepRecord& step, const Snapshot& snap);
  const Decision& decide(const Snapshot& snap, std::span<const RequestState> requests);
  // An admitted request (not best effort) is remembered as the workload's demand
  // (PolicyState::demand): moves to a better point must serve the next one like it.
  Admission admit(const Snapshot& snap, const RequestState& incoming,
                  std::span<const RequestState> active);

  // An event the caller adds to the ring (e.g. a point the engine refused), with the
  // time and the decision it concerns. Never allocates.
  void note(double t_s, const Decision& d) { events_.push(t_s, d); }

  size_t point_index() const { return state_.point; }
  const OperatingPoint& point() const { return space_[state_.point]; }
  const Space& space() const { return space_; }
  const CostModel& costs() const { return costs_; }
  const Policy& policy() const { return policy_; }
  const EventRing& events() const { return events_; }
  const TemperatureTrend& trend() const { return trend_; }
  const TemperatureTrend& clock_trend() const { return clock_trend_; }
  const Limits& limits() const { return config_.limits; }
  bool shedding() const { return state_.shedding; }

 private:
  GovernorConfig config_;
  Space space_;
  QualityTable quality_;
  CostModel costs_;
  Policy policy_;
  TemperatureTrend trend_;
  TemperatureTrend clock_trend_;  // cpu_mhz: a move up is judged at the clock it falls to
  EventRing events_;
  PolicyState state_;
  Decision last_;
};

}  // namespace airt::governor
