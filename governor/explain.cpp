#include "governor/explain.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <vector>

namespace airt::governor {
namespace {

constexpr double kIdleTickS = 0.1;  // how often an idle governor looks at the sensors

struct Active {
  int id = 0;
  double tokens_left = 0;
  int32_t prefill_left = 0;
  double ttft_due = kNoLimit, deadline_due = kNoLimit;  // absolute, seconds
  double first_token_s = -1;
};

struct Sim {
  Governor& g;
  const RequestStream& stream;
  const std::function<void(const char*)>& print;
  std::vector<Active> active;
  std::deque<Active> waiting;
  std::vector<RequestState> states;
  ExplainSummary sum;
  char line[512];

  RequestState state_of(const Active& a, double now) const {
    RequestState r;
    r.tokens_left = int32_t(std::max(0.0, a.tokens_left));
    r.prefill_left = a.prefill_left;
    r.ms_left_to_ttft =
        a.first_token_s >= 0 || a.ttft_due == kNoLimit ? kNoLimit : (a.ttft_due - now) * 1000;
    r.ms_left_to_deadline = a.deadline_due == kNoLimit ? kNoLimit : (a.deadline_due - now) * 1000;
    r.best_effort = stream.best_effort;
    return r;
  }
  void collect(double now) {
    states.clear();
    for (const Active& a : active) states.push_back(state_of(a, now));
  }
  void arrive(double now, const Snapshot& snap);
  void step(double& now, const Snapshot& snap);
};

void Sim::arrive(double now, const Snapshot& snap) {
  Active a;
  a.id = ++sum.requests;
  a.tokens_left = stream.max_tokens;
  a.prefill_left = stream.prompt_tokens;
  a.ttft_due = stream.ttft_ms == kNoLimit ? kNoLimit : now + stream.ttft_ms / 1000;
  a.deadline_due = stream.deadline_ms == kNoLimit ? kNoLimit : now + stream.deadline_ms / 1000;
  collect(now);
  const Admission adm = g.admit(snap, state_of(a, now), states);
  if (adm.ok) {
    waiting.push_back(a);
    return;
  }
  (std::string(adm.code) == "overloaded" ? sum.refused_overloaded : sum.refused_unmeetable)++;
  std::snprintf(line, sizeof(line), "%8.1f s  request %d refused: %s (%s)", now, a.id, adm.code,
                adm.reason);
  print(line);
}

// One engine step at the current point, as long as the cost model says it takes.
void Sim::step(double& now, const Snapshot& snap) {
  const size_t p = g.point_index();
  const double fr = snap.cpu_mhz && snap.cpu_max_mhz ? *snap.cpu_mhz / *snap.cpu_max_mhz : 1.0;
  StepRecord rec;
  rec.point = g.point();
  rec.sequences = int32_t(active.size());
  for (const Active& a : active) {
    if (a.prefill_left > 0)
      rec.rows_prefill += a.prefill_left;
    else
      rec.rows_decode += 1 + g.point().draft_len;
  }
  rec.wall_ms = float(g.costs().step_ms(p, rec.rows_decode, rec.rows_prefill, fr));
  g.observe(rec, snap);
  now += rec.wall_ms / 1000.0;
  const double tokens = g.costs().tokens_per_step(p);
  for (Active& a : active) {
    if (a.prefill_left > 0) {
      a.prefill_left = 0;
      a.tokens_left -= 1;
      a.first_token_s = now;
    } else {
      a.tokens_left -= tokens;
    }
  }
  for (const Active& a : active) {
    if (a.tokens_left > 0) continue;
    const bool ok = now <= a.deadline_due && a.first_token_s <= a.ttft_due;
    (ok ? sum.met : sum.missed)++;
  }
  std::erase_if(active, [](const Active& a) { return a.tokens_left <= 0; });
}

}  // namespace

ExplainSummary explain_trace(Governor& g, Sensors& sensors, double start_s, double end_s,
                             const RequestStream& stream,
                             const std::function<void(const char*)>& print) {
  Sim sim{g, stream, print, {}, {}, {}, {}, {}};
  double now = start_s, next_arrival = start_s, ppl_time = 0;
  while (now < end_s) {
    const Snapshot snap = sensors.read(now);
    for (; next_arrival <= now; next_arrival += stream.every_s) sim.arrive(now, snap);
    while (!sim.waiting.empty() && int32_t(sim.active.size()) < stream.slots) {
      sim.active.push_back(sim.waiting.front());
      sim.waiting.pop_front();
    }
    sim.collect(now);
    const Decision& d = g.decide(snap, sim.states);
    if (d.changed) {
      ++sim.sum.switches;
      std::snprintf(sim.line, sizeof(sim.line), "%8.1f s  %s", now, d.reason);
      print(sim.line);
    }
    const double before = now;
    if (sim.active.empty())
      now = std::min(now + kIdleTickS, std::max(next_arrival, now + 1e-3));
    else
      sim.step(now, snap);
    ppl_time += g.policy().quality(g.point_index()) * (now - before);
  }
  sim.sum.unfinished = int(sim.active.size() + sim.waiting.size());
  sim.sum.duration_s = now - start_s;
  sim.sum.mean_ppl = sim.sum.duration_s > 0 ? ppl_time / sim.sum.duration_s : 0;
  return sim.sum;
}

}  // namespace airt::governor
