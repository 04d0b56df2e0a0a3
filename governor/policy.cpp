#include "governor/policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace airt::governor {
namespace {

constexpr double kDerateStep = 0.85;  // energy cap per derating step
constexpr double kMemoryStep = 0.75;  // KV memory cap per memory step
constexpr double kMemoryStepS = 1.0;  // memory steps come at most this often
constexpr double kMaxBackoff = 8.0;   // moves up wait at most this many dwell times
constexpr double kPowerBand = 0.95;   // power derating ends below cap x this
constexpr double kDemandTie = 0.05;   // a request this much looser still renews the demand
constexpr double kLateLoad = 10.0;    // a request needing more x its time left is out of time

double freq_ratio(const Snapshot& s) {
  if (!s.cpu_mhz || !s.cpu_max_mhz || *s.cpu_max_mhz <= 0) return 1.0;
  return std::clamp(*s.cpu_mhz / *s.cpu_max_mhz, 0.05, 1.0);
}

// The clock ratio the forecast expects, never above the one measured now.
double freq_ratio_ahead(const Snapshot& s, const Forecast& f) {
  const double now = freq_ratio(s);
  if (!f.cpu_mhz || !s.cpu_max_mhz || *s.cpu_max_mhz <= 0) return now;
  return std::min(now, std::clamp(*f.cpu_mhz / *s.cpu_max_mhz, 0.05, 1.0));
}

// Deadline per token of budget: the smaller, the tighter.
double ms_per_token(const RequestState& r) {
  return r.ms_left_to_deadline / std::max(1, r.tokens_left + r.prefill_left);
}

// On above `on`, off below `off`, unchanged in between.
bool hysteresis(bool was, double value, double on, double off) {
  if (value > on) return true;
  if (value < off) return false;
  return was;
}

}  // namespace

const char* pressure_name(Pressure p) {
  switch (p) {
    case Pressure::kNone: return "none";
    case Pressure::kDeadline: return "deadline";
    case Pressure::kThermal: return "thermal";
    case Pressure::kPower: return "power";
    case Pressure::kMemory: return "memory";
    case Pressure::kHard: return "hard";
    case Pressure::kRecovered: return "recovered";
    case Pressure::kBetter: return "better";
  }
  return "?";
}

struct Policy::Ctx {
  const PolicyState& in;
  const Snapshot& snap;
  std::optional<double> pred;
  std::span<const RequestState> reqs;
  double now = 0, fr = 1;
  int batch = 1;
  bool dwell_ok = false;
  Decision d;
  double min_energy = 0;  // of the cheapest point: always allowed, however the model has moved
  bool ahead = false;     // reqs holds the expected next request, fr the clock ahead
  Forecast ahead_of{};
};

Policy::Policy(const Space& space, const QualityTable& quality, const CostModel& costs,
               const Limits& limits)
    : space_(space), costs_(costs), limits_(limits) {
  for (size_t i = 0; i < space.size(); ++i) {
    ppl_.push_back(quality.figure(space[i]).ppl);
    if (ppl_[i] < ppl_[best_]) best_ = i;
  }
}

double Policy::energy(size_t i, int batch, double fr) const {
  return costs_.decode_ms_per_token(i, batch, fr) * std::max(1, space_.threads_of(i));
}

double Policy::request_load(size_t i, const RequestState& r, std::span<const RequestState> all,
                            double fr) const {
  int prefill = 0, decoding = 0;
  for (const RequestState& a : all) {
    prefill += a.prefill_left;
    decoding += a.prefill_left == 0 ? 1 : 0;
  }
  const int batch = std::max<int>(1, int(all.size()));
  // Every prompt still pending is evaluated in the next step, beside the decoding rows.
  const double prefill_ms =
      prefill > 0 ? costs_.step_ms(i, decoding * (1.0 + space_[i].draft_len), prefill, fr) : 0;
  const double per_token = costs_.decode_ms_per_token(i, batch, fr);
  const int after_first = std::max(0, r.tokens_left - (r.prefill_left > 0 ? 1 : 0));
  const double done = prefill_ms + after_first * per_token;
  double load = 0;
  if (r.prefill_left > 0 && r.ms_left_to_ttft < kNoLimit)
    load = prefill_ms / std::max(r.ms_left_to_ttft, 1e-3);
  if (r.ms_left_to_deadline < kNoLimit)
    load = std::max(load, done / std::max(r.ms_left_to_deadline, 1e-3));
  return load;
}

double Policy::load(size_t i, std::span<const RequestState> reqs, double fr) const {
  double worst = 0;
  for (const RequestState& r : reqs) {
    if (!r.best_effort) worst = std::max(worst, request_load(i, r, reqs, fr));
  }
  return worst;
}

bool Policy::allowed(const Ctx& c, size_t i) const {
  const PolicyState& s = c.d.next;
  const double e = energy(i, 1, 1.0);
  if (e > s.energy_cap * (1 + 1e-9) && e > c.min_energy * (1 + 1e-9)) return false;
  if (space_.kv_memory_fraction(i) > s.kv_cap * (1 + 1e-9)) return false;
  if (limits_.power_cap_w) {
    if (auto w = costs_.watts(i, c.batch); w && *w > *limits_.power_cap_w) return false;
  }
  return true;
}

// The best-quality allowed point with load <= max_load (ties: the faster); when none
// qualifies, the allowed point with the least load.
size_t Policy::choose(const Ctx& c, double max_load) const {
  std::optional<size_t> best, closest;
  double best_ms = 0, closest_load = 0;
  for (size_t i = 0; i < space_.size(); ++i) {
    if (!allowed(c, i)) continue;
    const double l = load(i, c.reqs, c.fr), ms = costs_.decode_ms_per_token(i, c.batch, c.fr);
    if (!closest || l < closest_load) closest = i, closest_load = l;
    if (l > max_load) continue;
    if (!best || ppl_[i] < ppl_[*best] || (ppl_[i] == ppl_[*best] && ms < best_ms))
      best = i, best_ms = ms;
  }
  if (best) return *best;
  if (closest) return *closest;
  // The energy and memory caps exclude every point together: memory binds first.
  size_t cheapest = c.in.point;
  for (size_t i = 0; i < space_.size(); ++i) {
    if (space_.kv_memory_fraction(i) > c.d.next.kv_cap * (1 + 1e-9)) continue;
    if (cheapest == c.in.point || energy(i, 1, 1.0) < energy(cheapest, 1, 1.0)) cheapest = i;
  }
  return cheapest;
}

double Policy::min_energy() const {
  double floor = kNoLimit;
  for (size_t i = 0; i < space_.size(); ++i) floor = std::min(floor, energy(i, 1, 1.0));
  return floor;
}

void Policy::derate_step(Ctx& c) const {
  PolicyState& s = c.d.next;
  s.energy_cap =
      std::max(c.min_energy, std::min(s.energy_cap, energy(c.in.point, 1, 1.0)) * kDerateStep);
}

void Policy::update_limits(Ctx& c) const {
  PolicyState& s = c.d.next;
  const Limits& L = limits_;
  if (c.snap.temp_c) {
    const double t = *c.snap.temp_c, eff = c.pred.value_or(t);
    s.shedding = t >= L.hard_temp_c || (s.shedding && t >= L.hard_temp_c - L.temp_band_c);
    s.thermal = hysteresis(s.thermal, eff, L.soft_temp_c, L.soft_temp_c - L.temp_band_c);
  } else {
    s.shedding = s.thermal = false;
  }
  if (L.power_cap_w && c.snap.power_w) {
    s.power = hysteresis(s.power, *c.snap.power_w, *L.power_cap_w, *L.power_cap_w * kPowerBand);
  } else {
    s.power = false;
  }
  if (L.mem_floor_mb && c.snap.mem_avail_mb) {
    s.memory = hysteresis(s.memory, -*c.snap.mem_avail_mb, -*L.mem_floor_mb,
                          -(*L.mem_floor_mb + L.mem_band_mb));
  } else {
    s.memory = false;
  }
  if (!s.thermal && !s.power) s.energy_cap = kNoLimit;
  if (!s.memory) s.kv_cap = kNoLimit;
  // A step of derating where the pressure is beyond its limit (not merely in the band).
  const bool hot = c.snap.temp_c && c.pred.value_or(*c.snap.temp_c) > L.soft_temp_c;
  const bool over = L.power_cap_w && c.snap.power_w && *c.snap.power_w > *L.power_cap_w;
  if ((hot || over) && c.dwell_ok) derate_step(c);
  const bool short_of_memory =
      L.mem_floor_mb && c.snap.mem_avail_mb && *c.snap.mem_avail_mb < *L.mem_floor_mb;
  if (short_of_memory && c.now - c.in.since_s >= kMemoryStepS) {
    double floor = kNoLimit;
    for (size_t i = 0; i < space_.size(); ++i)
      floor = std::min(floor, space_.kv_memory_fraction(i));
    s.kv_cap =
        std::max(floor, std::min(s.kv_cap, space_.kv_memory_fraction(c.in.point)) * kMemoryStep);
  }
}

// The request that needs the most of its remaining time at `point`, when that is over
// kLateLoad times it: nearly out of time, it is named with its numbers rather than as a
// percentage in the thousands. Null otherwise.
const RequestState* Policy::late(const Ctx& c, size_t point) const {
  const RequestState* worst = nullptr;
  double most = kLateLoad;
  for (const RequestState& r : c.reqs) {
    if (r.best_effort) continue;
    const double l = request_load(point, r, c.reqs, c.fr);
    if (l > most) most = l, worst = &r;
  }
  return worst;
}

// The cause with its numbers, then the knobs that change and the predicted speeds.
void Policy::explain(Ctx& c) const {
  Decision& d = c.d;
  const Limits& L = limits_;
  char* b = d.reason;
  const size_t cap = sizeof(d.reason);
  int n = 0;
  const double t = c.snap.temp_c.value_or(0), p = c.pred.value_or(t);
  const RequestState* late_r = d.pressure == Pressure::kDeadline ? late(c, d.from) : nullptr;
  switch (d.pressure) {
    case Pressure::kHard:
      n = std::snprintf(b, cap, "temp %.1f C >= hard %.0f: shedding", t, L.hard_temp_c);
      break;
    case Pressure::kThermal:
      n = std::snprintf(b, cap, "temp %.1f C predicted %.1f in %.0f s > soft %.0f", t, p,
                        L.horizon_s, L.soft_temp_c);
      break;
    case Pressure::kPower:
      n = std::snprintf(b, cap, "power %.1f W > cap %.1f W", c.snap.power_w.value_or(0),
                        L.power_cap_w.value_or(0));
      break;
    case Pressure::kMemory:
      n = std::snprintf(b, cap, "memory %.0f MB < floor %.0f MB", c.snap.mem_avail_mb.value_or(0),
                        L.mem_floor_mb.value_or(0));
      break;
    case Pressure::kDeadline:
      n = c.ahead ? std::snprintf(b, cap,
                                  "deadline ahead: the next request like one of %.0f ms for %d "
                                  "tokens would need %.0f%% of its time at clock %.0f%%",
                                  c.in.demand.ms_left_to_deadline, c.in.demand.tokens_left,
                                  100 * load(d.from, c.reqs, c.fr), 100 * c.fr)
                  : late_r ? std::snprintf(b, cap,
                                           "deadline: a request is out of time (%.0f ms left "
                                           "for %d tokens) at the current point (clock %.0f%%)",
                                           late_r->ms_left_to_deadline, late_r->tokens_left,
                                           100 * c.fr)
                            : std::snprintf(b, cap,
                                            "deadline: %.0f%% of a request's time left needed "
                                            "at the current point (clock %.0f%%)",
                                            100 * load(d.from, c.reqs, c.fr), 100 * c.fr);
      break;
    default:
      n = c.snap.temp_c
              ? std::snprintf(
                    b, cap,
                    "no limit binds (temp %.1f C predicted %.1f < soft %.0f); %.0f%% to spare", t,
                    p, L.soft_temp_c, 100 * L.upgrade_margin)
              : std::snprintf(b, cap, "no limit binds; %.0f%% to spare", 100 * L.upgrade_margin);
      if (c.ahead && n > 0 && size_t(n) < cap)
        n += std::snprintf(b + n, cap - size_t(n), " for the next request at clock %.0f%%",
                           100 * c.fr);
  }
  if (n < 0 || size_t(n) + 4 >= cap) return;
  b[n++] = ';', b[n++] = ' ';
  space_.describe_change(d.from, d.point, b + n, cap - size_t(n));
  const size_t used = std::strlen(b);
  std::snprintf(b + used, cap - used, ", tg %.1f -> %.1f t/s predicted", d.tg_from, d.tg_to);
}

void Policy::finish(Ctx& c, size_t to, Pressure why) const {
  Decision& d = c.d;
  d.point = to;
  d.shed = c.d.next.shedding;
  if (to == c.in.point) return;
  d.changed = true;
  d.pressure = why;
  d.tg_from = 1000.0 / costs_.decode_ms_per_token(d.from, c.batch, c.fr);
  d.tg_to = 1000.0 / costs_.decode_ms_per_token(to, c.batch, c.fr);
  d.next.point = to;
  d.next.since_s = c.now;
  explain(c);
}

double Policy::up_dwell(const PolicyState& s) const {
  return s.up_dwell_s > 0 ? s.up_dwell_s : limits_.dwell_s;
}

// A deadline pushed the point down soon after a move up: wait longer before the next;
// a quiet spell since the last move up resets the wait.
void Policy::back_off(Ctx& c) const {
  PolicyState& s = c.d.next;
  const double wait = up_dwell(c.in), since_up = c.now - c.in.last_up_s;
  if (since_up < 2 * wait)
    s.up_dwell_s = std::min(2 * wait, kMaxBackoff * limits_.dwell_s);
  else if (since_up > 8 * wait)
    s.up_dwell_s = 0;
}

// The active requests and the one expected next (the remembered demand, arriving now)
// at the clock the trend expects: the point is left before that request would miss, and a
// better one is taken only with the margin to spare for it. Without a remembered demand,
// the active requests alone at that clock.
void Policy::look_ahead(Ctx& c, bool may_upgrade) const {
  constexpr size_t kMax = 256;
  RequestState all[kMax];  // on the stack: no allocation
  const size_t n = std::min(c.reqs.size(), kMax - 1);
  std::copy_n(c.reqs.begin(), n, all);
  const bool expect = c.now - c.in.demand_s <= kDemandMemoryS;
  // The expected request, as often as needed to reach the concurrency seen.
  size_t m = n;
  if (expect) {
    const size_t peak = std::clamp<size_t>(size_t(std::max(c.in.demand_peak, 1)), n + 1, kMax);
    while (m < peak) all[m++] = c.in.demand;
  }
  Ctx a = c;
  a.reqs = {all, m};
  a.fr = freq_ratio_ahead(c.snap, c.ahead_of);
  a.batch = std::max<int>(1, int(a.reqs.size()));
  a.ahead = expect;
  if (expect && load(c.in.point, a.reqs, a.fr) > 1.0) {
    const size_t to = choose(a, 1.0);
    finish(a, to, Pressure::kDeadline);
    c.d = a.d;
    return;
  }
  if (!may_upgrade) return finish(c, c.in.point, Pressure::kNone);
  const size_t to = choose(a, 1.0 - limits_.upgrade_margin);
  finish(a, ppl_[to] < ppl_[c.in.point] ? to : c.in.point, Pressure::kBetter);
  c.d = a.d;
  if (c.d.changed) c.d.next.last_up_s = c.now;
}

void Policy::remember(PolicyState& s, const RequestState& r, size_t active, double now) {
  if (r.best_effort || r.ms_left_to_deadline == kNoLimit) return;
  const bool stale = now - s.demand_s > kDemandMemoryS;
  const int32_t together = int32_t(std::min<size_t>(active + 1, 256));
  s.demand_peak = stale ? together : std::max(s.demand_peak, together);
  // A request about as tight as the one kept (within kDemandTie) replaces it, so a steady
  // stream keeps its demand current rather than letting it expire 30 s after the first.
  const double mine = ms_per_token(r), kept = ms_per_token(s.demand);
  if (stale || mine <= kept * (1 + kDemandTie)) {
    s.demand = r;
    s.demand_s = now;
  }
}

Decision Policy::decide(const PolicyState& state, const Snapshot& snap, const Forecast& ahead,
                        std::span<const RequestState> reqs, double now) const {
  Ctx c{state,
        snap,
        ahead.temp_c,
        reqs,
        now,
        freq_ratio(snap),
        std::max<int>(1, int(reqs.size())),
        now - state.since_s >= limits_.dwell_s,
        Decision{}};
  c.d.from = c.d.point = state.point;
  c.d.next = state;
  c.min_energy = min_energy();
  c.ahead_of = ahead;
  update_limits(c);
  const PolicyState& s = c.d.next;
  if (s.shedding) {
    size_t cheapest = 0;
    for (size_t i = 1; i < space_.size(); ++i) {
      if (energy(i, 1, 1.0) < energy(cheapest, 1, 1.0)) cheapest = i;
    }
    finish(c, cheapest, Pressure::kHard);
  } else if (!allowed(c, state.point)) {
    const bool mem = space_.kv_memory_fraction(state.point) > s.kv_cap * (1 + 1e-9);
    finish(c, choose(c, 1.0),
           mem         ? Pressure::kMemory
           : s.thermal ? Pressure::kThermal
                       : Pressure::kPower);
  } else if (load(state.point, reqs, c.fr) > 1.0) {
    finish(c, choose(c, 1.0), Pressure::kDeadline);
    if (c.d.changed) back_off(c);
  } else if (c.dwell_ok) {
    look_ahead(c, now - state.since_s >= up_dwell(state));
  } else {
    finish(c, state.point, Pressure::kNone);
  }
  return c.d;
}

Admission Policy::admit(const PolicyState& state, const Snapshot& snap,
                        const RequestState& incoming, std::span<const RequestState> active) const {
  Admission a;
  const bool hot = snap.temp_c && *snap.temp_c >= limits_.hard_temp_c;
  if (state.shedding || hot) {
    a.ok = false;
    a.code = "overloaded";
    std::snprintf(a.reason, sizeof(a.reason),
                  "temp %.1f C at or over the hard limit %.0f C: shedding load",
                  snap.temp_c.value_or(0), limits_.hard_temp_c);
    return a;
  }
  if (incoming.best_effort) return a;
  // The incoming request beside the active ones, on a stack buffer (no allocation).
  constexpr size_t kMax = 256;
  RequestState all[kMax];
  const size_t n = std::min(active.size(), kMax - 1);
  std::copy_n(active.begin(), n, all);
  all[n] = incoming;
  const std::span<const RequestState> reqs(all, n + 1);
  Ctx c{state, snap, std::nullopt, reqs, 0, freq_ratio(snap), int(n + 1), false, Decision{}};
  c.d.next = state;
  c.min_energy = min_energy();
  double best = kNoLimit;
  size_t best_i = state.point;
  for (size_t i = 0; i < space_.size(); ++i) {
    if (!allowed(c, i)) continue;
    const double l = request_load(i, incoming, reqs, c.fr);
    if (l < best) best = l, best_i = i;
  }
  if (best <= 1.0) return a;
  a.ok = false;
  a.code = "deadline_unmeetable";
  std::snprintf(
      a.reason, sizeof(a.reason),
      "no operating point meets it: the fastest (%s) needs %.0f%% of the time given (clock %.0f%%)",
      space_.tier_name(space_[best_i].tier), 100 * best, 100 * c.fr);
  return a;
}

}  // namespace airt::governor
