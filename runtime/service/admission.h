// Bookkeeping the server uses to admit requests: a window of recently answered request
// keys (so a redelivered or repeated request is not run twice) and a per-client token
// bucket rate limiter. Both are bounded in memory.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace airt::service {

// The most recent `capacity` keys, oldest forgotten first.
class RecentKeys {
 public:
  explicit RecentKeys(size_t capacity) : capacity_(capacity) {}
  bool contains(const std::string& key) const { return set_.count(key) != 0; }
  void insert(const std::string& key);
  void set_capacity(size_t capacity);
  size_t size() const { return set_.size(); }

 private:
  void trim();
  size_t capacity_;
  std::deque<std::string> order_;
  std::unordered_set<std::string> set_;
};

// Token bucket per client: `burst` requests at once, refilled at `per_s`. per_s == 0
// turns it off. At most kMaxClients buckets are kept; when full, buckets that have
// refilled completely (idle clients) are dropped, and if none has, all are reset.
class RateLimiter {
 public:
  static constexpr size_t kMaxClients = 4096;
  void configure(double per_s, int burst);
  bool allow(const std::string& client, int64_t now_ns);
  size_t clients() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    int64_t last_ns;
  };
  double per_s_ = 0;
  double burst_ = 1;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace airt::service
