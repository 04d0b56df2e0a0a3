// `airt governor explain`: a trace replayed through the sensors, the models and the
// policy with a synthetic stream of requests, printing every decision. No engine runs:
// a step takes what the cost model predicts for it at the trace's clock, and the model
// learns from those steps as it would from the engine's -- so this shows what the policy
// decides and why, not how fast a board is (that is `airt bench --scenario`).
#pragma once

#include <functional>

#include "governor/governor.h"
#include "governor/sensors/sensors.h"

namespace airt::governor {

struct RequestStream {
  double every_s = 2.0;  // one request arrives every every_s seconds
  int32_t prompt_tokens = 64;
  int32_t max_tokens = 64;
  double ttft_ms = 2000;  // kNoLimit: none
  double deadline_ms = 10000;
  int32_t slots = 2;  // sequences at once; later arrivals wait for a slot
  bool best_effort = false;
};

struct ExplainSummary {
  int requests = 0, refused_unmeetable = 0, refused_overloaded = 0;
  int met = 0, missed = 0, unfinished = 0;
  int switches = 0;
  double duration_s = 0;
  double mean_ppl = 0;  // time-weighted over the points used
};

// Runs from the trace's start to its end, calling `print` with one line per decision
// that changes the point and per refused request.
ExplainSummary explain_trace(Governor& g, Sensors& sensors, double start_s, double end_s,
                             const RequestStream& stream,
                             const std::function<void(const char*)>& print);

}  // namespace airt::governor
