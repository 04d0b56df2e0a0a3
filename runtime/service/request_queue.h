// The service's bounded queue of requests waiting for a free slot, ordered by the one
// rule the engine orders its slots by (runtime/engine/request_order.h), so the two
// layers cannot disagree about which request runs next.
//
// Start-up sized: set_capacity() reserves every entry once; push() never allocates.
#pragma once

#include <cstddef>
#include <vector>

#include "runtime/engine/request_order.h"
#include "runtime/service/generator.h"

namespace airt::service {

struct Request;

// The order key of a request that has produced no token yet: its time-to-first-token
// deadline (or the total deadline when that is earlier or the only one), its priority
// and its arrival.
engine::OrderKey order_key(const Request& r, int64_t arrival_ns);

class RequestQueue {
 public:
  struct Entry {
    RequestTicket ticket = 0;
    engine::OrderKey key;
  };

  explicit RequestQueue(size_t capacity = 0) { set_capacity(capacity); }
  void set_capacity(size_t capacity);
  size_t capacity() const { return capacity_; }
  bool full() const { return entries_.size() >= capacity_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

  // Inserts behind every entry that runs_before it or ties with it; false when full.
  bool push(RequestTicket ticket, const engine::OrderKey& key);
  RequestTicket front() const { return entries_.front().ticket; }
  void pop_front() { entries_.erase(entries_.begin()); }
  bool remove(RequestTicket ticket);
  void clear() { entries_.clear(); }

  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }

 private:
  std::vector<Entry> entries_;  // best first
  size_t capacity_ = 0;
};

}  // namespace airt::service
