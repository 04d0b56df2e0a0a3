#include "runtime/service/request_queue.h"

#include <algorithm>

#include "runtime/service/protocol.h"

namespace airt::service {

engine::OrderKey order_key(const Request& r, int64_t arrival_ns) {
  constexpr int64_t kMs = 1000000;
  engine::OrderKey k;
  const int64_t ttft = r.ttft_ms ? arrival_ns + int64_t(r.ttft_ms) * kMs : 0;
  const int64_t total = r.deadline_ms ? arrival_ns + int64_t(r.deadline_ms) * kMs : 0;
  k.deadline_ns = engine::effective_deadline(ttft, total, /*first_token_seen=*/false);
  k.priority = r.priority;
  k.arrival_ns = arrival_ns;
  return k;
}

void RequestQueue::set_capacity(size_t capacity) {
  capacity_ = capacity;
  entries_.reserve(capacity);
}

bool RequestQueue::push(RequestTicket ticket, const engine::OrderKey& key) {
  if (full()) return false;
  auto pos = std::find_if(entries_.begin(), entries_.end(),
                          [&](const Entry& e) { return engine::runs_before(key, e.key); });
  entries_.insert(pos, Entry{ticket, key});
  return true;
}

bool RequestQueue::remove(RequestTicket ticket) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.ticket == ticket; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

}  // namespace airt::service
