// The service's wait queue orders requests by the engine's one rule (runs_before): the
// order it keeps equals the order runs_before sorts the same requests into.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "runtime/engine/request_order.h"
#include "runtime/service/protocol.h"
#include "runtime/service/request_queue.h"

namespace airt::service {
namespace {

TEST(ServiceQueue, OrderIsTheEnginesRunsBefore) {
  std::minstd_rand rng(7);
  for (int round = 0; round < 50; ++round) {
    RequestQueue q(64);
    std::vector<RequestQueue::Entry> all;
    for (RequestTicket t = 1; t <= 40; ++t) {
      Request r;
      r.priority = int(rng() % 10);
      // Mixed: no deadline, only ttft, only total, both (ttft <= total), with ties.
      switch (rng() % 4) {
        case 0: break;
        case 1: r.ttft_ms = 100 * int(1 + rng() % 5); break;
        case 2: r.deadline_ms = 100 * int(1 + rng() % 5); break;
        case 3:
          r.ttft_ms = 100 * int(1 + rng() % 3);
          r.deadline_ms = r.ttft_ms + 100 * int(rng() % 3);
          break;
      }
      int64_t arrival = 1000000000 + int64_t(rng() % 8) * 50000000 + int64_t(t);  // distinct arrivals
      engine::OrderKey k = order_key(r, arrival);
      ASSERT_TRUE(q.push(t, k));
      all.push_back({t, k});
    }
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return engine::runs_before(a.key, b.key); });
    std::vector<RequestTicket> want, got;
    for (auto& e : all) want.push_back(e.ticket);
    for (auto& e : q) got.push_back(e.ticket);
    ASSERT_EQ(got, want) << "round " << round;
  }
}

TEST(ServiceQueue, KeyIsTheFirstTokenDeadlineThenPriorityThenArrival) {
  Request r;
  r.priority = 7;
  r.ttft_ms = 200;
  r.deadline_ms = 900;
  engine::OrderKey k = order_key(r, 1000);
  EXPECT_EQ(k.deadline_ns, 1000 + 200 * 1000000LL);
  EXPECT_EQ(k.priority, 7);
  EXPECT_EQ(k.arrival_ns, 1000);
  r.ttft_ms = 0;
  EXPECT_EQ(order_key(r, 1000).deadline_ns, 1000 + 900 * 1000000LL);
  r.deadline_ms = 0;
  EXPECT_EQ(order_key(r, 1000).deadline_ns, 0) << "none";
  // A deadline beats a higher priority without one (the engine's rule, not priority first).
  Request urgent, important;
  urgent.priority = 0;
  urgent.deadline_ms = 5000;
  important.priority = 9;
  RequestQueue q(2);
  ASSERT_TRUE(q.push(1, order_key(important, 1)));
  ASSERT_TRUE(q.push(2, order_key(urgent, 2)));
  EXPECT_EQ(q.front(), 2u);
  EXPECT_FALSE(q.push(3, order_key(urgent, 3))) << "bounded";
  EXPECT_TRUE(q.remove(2));
  EXPECT_EQ(q.front(), 1u);
}

}  // namespace
}  // namespace airt::service
