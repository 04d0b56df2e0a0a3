// The governor in the engine's step loop. GovernorLoop installs itself as the Engine's
// step hook; at the end of every step it
//   - reads the sensors (live sysfs, or a replayed trace at the loop's clock),
//   - tells the governor what the step cost (observe),
//   - builds the active requests' RequestState from the engine's slots,
//   - asks for the next operating point (decide) and applies it when it changed.
// An apply() the engine refuses is an event in the governor's ring (and the callback),
// never a crash: the engine keeps its point and the loop does not retry that point.
// admit() is for the caller before Engine::submit: deadline_unmeetable (unless best
// effort) or overloaded (above the hard temperature limit).
//
// governed_space() and governed_quality() build the governor's Space and QualityTable
// from the engine (its ladder tiers, window, KV types, draft lengths) and from the
// tier-quality measurements (tier_quality.h).
//
// Nothing in the step path allocates: the loop's request tables are sized for the
// engine's slots at create(); the callbacks are called, not copied.
//
// Ownership: the Engine must outlive the loop; the loop owns the Governor and the
// Sensors. Threading: the engine's (one caller at a time).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "governor/governor.h"
#include "governor/model/profile.h"
#include "governor/sensors/sensors.h"
#include "runtime/core/result.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/tier_quality.h"

namespace airt::engine {

// The knobs the Space may turn besides the ladder's tiers (all of them, best first).
struct GovernedSpaceOptions {
  std::vector<int32_t> windows;             // empty: the engine's window only
  int32_t sinks = 4;                        // kept with a window (when the engine has none)
  std::vector<governor::KvPrecision> kv;    // empty: the engine's types, then q8_0 where
                                            // that is cheaper and the model takes it
  std::vector<int32_t> draft_lens;          // empty: 0, and draft_max where a drafter exists
  std::vector<int32_t> threads;             // empty: every thread the engine owns
};

// The operating points of `e` as the governor's SpaceConfig. Every point is checked with
// Engine::apply (the engine's point is restored; `e` must be idle): an error names the
// knob the plan does not hold.
Result<governor::SpaceConfig> governed_space(Engine& e, const GovernedSpaceOptions& o = {});

// Tier perplexities as the governor's quality figures (tiers not listed keep the
// table's placeholders).
governor::QualityTable governed_quality(std::span<const TierQuality> tiers);

struct GovernorLoopConfig {
  governor::GovernorConfig governor;
  // The sensors' clock in seconds (a replayed trace's time). Null: `start_s` plus the
  // wall-clock seconds since create().
  std::function<double()> clock;
  double start_s = 0;
  // After every step the loop handled (the governor's decision made and applied).
  std::function<void(const governor::StepRecord&, const governor::Decision&)> on_step;
  // Every governor event as it happens: each change of point, and each point the engine
  // refused (pressure kNone, the reason says why).
  std::function<void(const governor::Event&)> on_event;
};

class GovernorLoop {
 public:
  // Installs the loop as e's step hook (replacing any other); the destructor removes it.
  // `profile` may be null (the cost model's defaults); it is copied from. Fails when the
  // engine cannot run the governor's starting (best) point.
  static Result<std::unique_ptr<GovernorLoop>> create(Engine& e, governor::Sensors sensors,
                                                      governor::Space space,
                                                      governor::QualityTable quality,
                                                      const governor::Profile* profile,
                                                      GovernorLoopConfig config);
  ~GovernorLoop();
  GovernorLoop(const GovernorLoop&) = delete;
  GovernorLoop& operator=(const GovernorLoop&) = delete;

  // Whether `r` may be submitted now beside the active requests. A request with prompt
  // text (not tokens) is counted at one token per 3 bytes, a cautious estimate made
  // without tokenizing. An admitted best-effort request never constrains the point;
  // pass the ticket it will be submitted under.
  governor::Admission admit(Ticket ticket, const Request& r, bool best_effort);
  // A decision without a step (e.g. the service while idle): sensors read, point
  // decided and applied. Never allocates.
  void tick();

  double now_s() const;
  const governor::Governor& governor() const { return gov_; }
  const governor::Snapshot& snapshot() const { return snap_; }
  const governor::Sensors& sensors() const { return sensors_; }
  // The point the engine was last told to run (an index into governor().space()).
  size_t applied_point() const { return applied_; }
  std::string describe_point() const { return gov_.space().describe(applied_); }
  // {"total": N, "events": [...]} (EventRing::to_json).
  std::string events_json() const { return gov_.events().to_json(gov_.space()); }
  int64_t apply_failures() const { return apply_failures_; }

 private:
  GovernorLoop(Engine& e, governor::Sensors sensors, governor::Space space,
               governor::QualityTable quality, const governor::Profile* profile,
               GovernorLoopConfig config);
  static void hook(void* ctx, Engine& e, const governor::StepRecord& step);
  void on_step(const governor::StepRecord& step);
  const governor::Decision& decide_and_apply();
  std::span<const governor::RequestState> requests(int64_t now);
  bool best_effort(Ticket t) const;
  void report_last_event();

  Engine& engine_;
  governor::Sensors sensors_;
  governor::Governor gov_;
  GovernorLoopConfig config_;
  int64_t t0_ns_ = 0;
  governor::Snapshot snap_;
  size_t applied_ = 0;
  size_t refused_ = SIZE_MAX;  // the last point the engine refused; not retried
  int64_t apply_failures_ = 0;
  uint64_t events_seen_ = 0;
  // Sized for the engine's slots at construction.
  std::vector<ActiveRequest> active_;
  std::vector<governor::RequestState> states_;
  std::vector<Ticket> best_effort_;  // admitted best-effort tickets; 0: a free entry
};

}  // namespace airt::engine
