// Every decision that changes the operating point, as an event (time, from, to, reason
// with the numbers), kept in a fixed ring: the newest `capacity` events, no allocation
// after construction. Rendered as JSON for the service's telemetry and status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "governor/model/space.h"
#include "governor/policy.h"

namespace airt::governor {

struct Event {
  double t_s = 0;
  uint32_t from = 0, to = 0;  // indices into the Space
  Pressure pressure = Pressure::kNone;
  bool shed = false;
  char reason[256] = {};
};

class EventRing {
 public:
  explicit EventRing(size_t capacity = 64);

  void push(double t_s, const Decision& d);  // never allocates
  size_t size() const { return count_; }
  uint64_t total() const { return total_; }  // pushed since construction, dropped ones included
  const Event& at(size_t i) const;           // 0: the oldest kept

  // {"total": N, "events": [{"t_s": 12.5, "from": "q8_0", "to": "q4_0", "pressure":
  // "thermal", "shed": false, "reason": "..."}]} -- point names as Space::describe gives them.
  std::string to_json(const Space& space) const;

 private:
  std::vector<Event> ring_;
  size_t head_ = 0, count_ = 0;
  uint64_t total_ = 0;
};

}  // namespace airt::governor
