#include "runtime/service/admission.h"

#include <algorithm>

namespace airt::service {

void RecentKeys::insert(const std::string& key) {
  if (!set_.insert(key).second) return;
  order_.push_back(key);
  trim();
}

void RecentKeys::set_capacity(size_t capacity) {
  capacity_ = capacity;
  trim();
}

void RecentKeys::trim() {
  while (order_.size() > capacity_) {
    set_.erase(order_.front());
    order_.pop_front();
  }
}

void RateLimiter::configure(double per_s, int burst) {
  per_s_ = per_s;
  burst_ = std::max(1, burst);
  if (per_s_ <= 0) buckets_.clear();
}

bool RateLimiter::allow(const std::string& client, int64_t now_ns) {
  if (per_s_ <= 0) return true;
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxClients) {
      for (auto b = buckets_.begin(); b != buckets_.end();) {
        double refilled = b->second.tokens + double(now_ns - b->second.last_ns) * 1e-9 * per_s_;
        b = refilled >= burst_ ? buckets_.erase(b) : std::next(b);
      }
      if (buckets_.size() >= kMaxClients) buckets_.clear();
    }
    it = buckets_.emplace(client, Bucket{burst_, now_ns}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::min(burst_, b.tokens + double(now_ns - b.last_ns) * 1e-9 * per_s_);
  b.last_ns = now_ns;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace airt::service
