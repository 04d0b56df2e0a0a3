// airt bench --scenario throttle|memory: a sensor trace replayed in wall-clock time while
// a stream of requests with deadlines runs on the engine, once per policy: the governor,
// then each fixed operating point.
//
// The CPU clock of the trace is emulated, not read: each engine step pauses for
// step_ms x (max_mhz / cur_mhz - 1) (a duty cycle), so a step at 1500 of 2400 MHz takes
// 1.6 times as long on the wall clock and deadlines are judged on that clock. The pause
// is taken inside the step, when it delivers its first token (the Sink is called from
// inside Engine::step), so the step's own record -- what the governor learns from --
// includes it, as it would on a throttled board. A step that delivers no token (a
// prompt chunk that does not finish its prompt) is not slowed; the scenarios prefill a
// prompt in one step.
//
// Ownership: the run borrows the engine and the trace; nothing here outlives a call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "governor/governor.h"
#include "governor/model/profile.h"
#include "governor/sensors/replay.h"
#include "runtime/core/result.h"
#include "runtime/engine/engine.h"

namespace airt::cli {

struct RequestMix {
  double every_s = 2;    // one request arrives every every_s seconds of the trace
  int32_t requests = 0;  // at most this many (0: as many as the trace's length holds)
  int32_t prompt = 16;   // prompt tokens
  int32_t max_tokens = 16;
  double ttft_ms = 0, deadline_ms = 0;  // from arrival; 0: none
  bool resubmit = false;  // memory: keep `slots` sequences running until the trace ends
};

// One engine step (or an idle tick) as the plot draws it.
struct ScenarioSample {
  float t_s = 0;
  float temp_c = 0, mhz = 0, mem_mb = 0;  // the trace at t (0: no such column)
  float step_ms = 0;                      // the step with its pause; 0: idle
  int16_t point = 0;                      // index into the space
  int16_t window = 0;
  uint8_t kv_bits = 16;  // of K, for new blocks
};

struct PolicyResult {
  std::string policy;  // "governor" or the fixed point's description
  int32_t requests = 0, met = 0, missed = 0, refused = 0, failed = 0;
  int64_t tokens = 0;
  double duration_s = 0;
  double mean_ppl = 0;  // time-weighted over the points used
  double ppl_ratio = 0;  // mean_ppl / the best point's
  double tokens_per_s = 0;
  double itl_p50_ms = 0, itl_p99_ms = 0;
  int32_t switches = 0;
  double switches_per_min = 0;
  int64_t allocations = -1;  // heap allocations in the loop; -1: not counted
  bool grew_back = false;    // the run ended at the best point
  std::vector<ScenarioSample> samples;
  std::vector<float> misses_s;  // when each missed or refused request was given up
  double met_pct() const { return requests > 0 ? 100.0 * met / requests : 0; }
};

struct PolicyRun {
  std::string name;
  bool governed = false;  // the governor (engine/governed.h) in the step loop
  size_t fixed = 0;       // without it: this point all the way
  // The governor's set-up: the cost model's seed (may be null), quality and limits.
  const governor::Profile* profile = nullptr;
  governor::QualityTable quality;
  governor::GovernorConfig config;
  bool print_events = false;  // each governor event to stderr as it happens
};

// Runs `mix` on `e` against `trace` (from its start to its end, then until the last
// request is done) under one policy. `ppl` is each point's perplexity (index = point of
// `space`; lower is better). alloc_count,
// where given, counts the heap allocations of the loop (tests pass theirs).
Result<PolicyResult> run_scenario(engine::Engine& e, const governor::Trace& trace, const governor::Space& space,
                                  std::span<const double> ppl, const RequestMix& mix, const PolicyRun& policy,
                                  const std::function<int64_t()>& alloc_count = {});

// The built-in traces: throttle rises 50 -> 85 C while the clock falls 2400 -> 1500 MHz
// (steady 10 s, 60 s of fall, 20 s at the bottom); memory has MemAvailable dip below
// `floor_mb` for the middle third of `seconds` and come back.
std::string scenario_throttle_csv();
std::string scenario_memory_csv(double floor_mb, double seconds);

// -o json: one object per policy, keys as README lists; md: a table.
std::string scenario_json(const std::string& scenario, const std::vector<PolicyResult>& rows, const RequestMix& mix);
std::string scenario_table(const std::vector<PolicyResult>& rows);
// --plot: temperature, frequency (or memory), then per policy its operating point, step
// latency and deadline misses against time; every panel a <g id="...">.
std::string scenario_svg(const std::string& scenario, const std::vector<PolicyResult>& rows,
                         const governor::Space& space);

int bench_scenario_main(int argc, char** argv);
bool bench_scenario_wanted(int argc, char** argv);

}  // namespace airt::cli
