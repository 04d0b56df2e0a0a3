// The one rule that orders requests, used by the engine for its slots and by the service
// for its queue, so that the two can never disagree: the earlier effective deadline
// first (no deadline: last), then the higher priority, then the earlier arrival.
#pragma once

#include <cstdint>

namespace airt::engine {

struct OrderKey {
  int64_t deadline_ns = 0;  // absolute, now_ns() clock; 0: none
  int32_t priority = 0;     // higher runs first among equal deadlines
  int64_t arrival_ns = 0;
};

inline bool runs_before(const OrderKey& a, const OrderKey& b) {
  const int64_t da = a.deadline_ns > 0 ? a.deadline_ns : INT64_MAX;
  const int64_t db = b.deadline_ns > 0 ? b.deadline_ns : INT64_MAX;
  if (da != db) return da < db;
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.arrival_ns < b.arrival_ns;
}

// The deadline a request is ordered by: its time-to-first-token deadline until the first
// token, then its total deadline (the earlier of the two while both apply).
inline int64_t effective_deadline(int64_t first_token_deadline_ns, int64_t deadline_ns, bool first_token_seen) {
  if (first_token_seen || first_token_deadline_ns <= 0) return deadline_ns;
  return deadline_ns > 0 && deadline_ns < first_token_deadline_ns ? deadline_ns : first_token_deadline_ns;
}

}  // namespace airt::engine
