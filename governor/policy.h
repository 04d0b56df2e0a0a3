// The governor's policy: which operating point to run next, as a pure function of the
// sensor snapshot, the cost and quality models, the active requests, the time and the
// policy's own state (the current point, when it last changed, which limits are being
// enforced) -- so a test or `airt governor explain` replays it exactly.
//
// Constraints: a soft temperature limit (above it, or predicted above it within the
// horizon, derate: cap the CPU-milliseconds per token, 15% lower each dwell period while
// the pressure lasts), a hard limit (shed: the cheapest point, and new requests are
// refused with `overloaded`), a power cap (points predicted over it are excluded where a
// power model exists; a measured excess derates like heat), a memory floor (below it,
// the KV memory figure is capped, 25% lower per decision, until memory is back above the
// floor plus a band). Objective: the highest-quality allowed point whose predicted
// latency meets every active request's remaining ttft_ms and deadline_ms; when none does,
// the allowed point that comes closest.
//
// Stability: limits have a hysteresis band; a move that no constraint or deadline forces
// (derating a step, lifting it, moving to a better point) waits for the minimum dwell time
// since the last switch, and moving to a better point needs `upgrade_margin` to spare and
// backs off (PolicyState::up_dwell_s) when deadlines keep pushing it back down.
// Looking ahead: a better point must also serve the next request like the tightest one
// admitted in the last kDemandMemoryS seconds (PolicyState::demand) at the clock the
// trend expects over the dwell time -- an idle instant on a slowing CPU is not a lighter
// workload -- and the current point is left before that request would miss, not after.
// Urgent moves (hard limit, memory floor, a deadline the current point would miss) do not wait.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <span>

#include "governor/model/cost_model.h"
#include "governor/model/quality.h"
#include "governor/model/space.h"
#include "governor/sensors/sensors.h"

namespace airt::governor {

inline constexpr double kNoLimit = std::numeric_limits<double>::infinity();

// One active request as the policy sees it.
struct RequestState {
  int32_t tokens_left = 0;  // tokens still to generate
  double ms_left_to_ttft =
      kNoLimit;  // until its first token is due (kNoLimit: no limit or already out)
  double ms_left_to_deadline = kNoLimit;  // until its last token is due
  int32_t prefill_left = 0;               // prompt rows still to evaluate
  bool best_effort = false;  // late is better than refused: never constrains the choice
};

// How long an admitted request's limits stand for the workload's (PolicyState::demand).
inline constexpr double kDemandMemoryS = 30.0;

// What the trends expect (nullopt: no forecast).
struct Forecast {
  std::optional<double> temp_c;   // the temperature, Limits::horizon_s ahead (its rise)
  std::optional<double> cpu_mhz;  // the CPU clock over the next dwell time (its fall)
};

struct Limits {
  double soft_temp_c = 80.0, hard_temp_c = 90.0;
  double temp_band_c = 2.0;  // derating ends below soft - band, shedding below hard - band
  double horizon_s = 5.0;    // how far ahead the temperature trend is extrapolated
  std::optional<double> power_cap_w;
  std::optional<double> mem_floor_mb;
  double mem_band_mb = 64.0;
  double dwell_s = 10.0;
  double upgrade_margin = 0.15;
};

enum class Pressure : unsigned char {
  kNone,
  kDeadline,
  kThermal,
  kPower,
  kMemory,
  kHard,
  kRecovered,
  kBetter
};
const char* pressure_name(Pressure p);  // "deadline", "thermal", ...

// What the policy remembers between decisions; a Decision carries the next one.
struct PolicyState {
  size_t point = 0;              // index into the Space
  double since_s = -kNoLimit;    // when the point was last changed
  double energy_cap = kNoLimit;  // CPU-ms per token allowed (thermal or power derating)
  double kv_cap = kNoLimit;      // kv_memory_fraction allowed (memory floor)
  bool thermal = false, power = false, memory = false, shedding = false;
  // Backoff for moves to a better point: doubled (up to 8 x dwell) when a deadline forces
  // the point back down soon after one, so a stream the better point cannot sustain does
  // not flap; back to dwell after a quiet spell.
  double up_dwell_s = 0;  // 0: limits.dwell_s
  double last_up_s = -kNoLimit;
  // The tightest request admitted within kDemandMemoryS (deadline per token, then ttft),
  // as it stood at admission: the request the next one is expected to be like.
  RequestState demand{};
  double demand_s = -kNoLimit;  // when it was admitted (-inf: none yet)
  int32_t demand_peak = 0;      // most requests active at once, the admitted one included
};

struct Decision {
  size_t point = 0;
  size_t from = 0;
  bool changed = false;
  bool shed = false;  // above the hard limit: refuse new requests with `overloaded`
  Pressure pressure = Pressure::kNone;
  double tg_from = 0, tg_to = 0;  // predicted tokens/s per sequence at the old and the new point
  PolicyState next;
  char reason[256] = {};  // with the numbers; empty when nothing changed
};

struct Admission {
  bool ok = true;
  const char* code = "";  // "deadline_unmeetable", "overloaded"
  char reason[200] = {};
};

class Policy {
 public:
  // All must outlive the policy.
  Policy(const Space& space, const QualityTable& quality, const CostModel& costs,
         const Limits& limits);

  // The soft limit is judged on ahead.temp_c (smoothed), the hard limit on the sample
  // itself; ahead.cpu_mhz bounds the clock a move up is judged at. Never allocates.
  Decision decide(const PolicyState& state, const Snapshot& snap, const Forecast& ahead,
                  std::span<const RequestState> requests, double now_s) const;
  // Whether `incoming` can be taken beside `active` under the current state.
  Admission admit(const PolicyState& state, const Snapshot& snap, const RequestState& incoming,
                  std::span<const RequestState> active) const;
  // An admitted request at now_s beside `active` others: kept in state.demand when it is
  // the tightest in memory, and the peak of concurrent requests with it.
  static void remember(PolicyState& state, const RequestState& admitted, size_t active,
                       double now_s);

  // The largest predicted / allowed time over the requests that are not best effort
  // (<= 1: every limit met); 0 without such requests.
  double load(size_t point, std::span<const RequestState> requests, double freq_ratio) const;
  double energy(size_t point, int batch, double freq_ratio) const;  // CPU-ms per token
  double quality(size_t point) const { return ppl_[point]; }        // perplexity, lower is better
  size_t best_point() const { return best_; }

 private:
  struct Ctx;
  double min_energy() const;
  double up_dwell(const PolicyState& s) const;
  void back_off(Ctx& c) const;
  void update_limits(Ctx& c) const;
  bool allowed(const Ctx& c, size_t i) const;
  size_t choose(const Ctx& c, double max_load) const;
  void derate_step(Ctx& c) const;
  void finish(Ctx& c, size_t to, Pressure why) const;
  void look_ahead(Ctx& c, bool may_upgrade) const;
  const RequestState* late(const Ctx& c, size_t point) const;
  void explain(Ctx& c) const;
  double request_load(size_t point, const RequestState& r, std::span<const RequestState> all,
                      double fr) const;

  const Space& space_;
  const CostModel& costs_;
  const Limits& limits_;
  std::vector<double> ppl_;
  size_t best_ = 0;
};

}  // namespace airt::governor
