#include <gtest/gtest.h>

#include <string>

#include "runtime/service/admission.h"

namespace airt::service {
namespace {

TEST(ServiceAdmission, RecentKeysForgetsOldestFirst) {
  RecentKeys k(3);
  for (const char* s : {"a", "b", "c"}) k.insert(s);
  EXPECT_TRUE(k.contains("a"));
  k.insert("b");  // already there: no change in order
  k.insert("d");
  EXPECT_FALSE(k.contains("a"));
  EXPECT_TRUE(k.contains("b"));
  EXPECT_TRUE(k.contains("d"));
  EXPECT_EQ(k.size(), 3u);
  k.set_capacity(1);
  EXPECT_EQ(k.size(), 1u);
  EXPECT_TRUE(k.contains("d"));
}

TEST(ServiceAdmission, RateLimiterBurstThenRate) {
  RateLimiter r;
  EXPECT_TRUE(r.allow("c", 0));  // off by default
  r.configure(2.0, 3);           // 2/s, burst 3
  int64_t t = 1000000000;
  EXPECT_TRUE(r.allow("c", t));
  EXPECT_TRUE(r.allow("c", t));
  EXPECT_TRUE(r.allow("c", t));
  EXPECT_FALSE(r.allow("c", t));
  EXPECT_TRUE(r.allow("other", t));   // per client
  EXPECT_FALSE(r.allow("c", t + 400000000));  // 0.8 tokens refilled
  EXPECT_TRUE(r.allow("c", t + 600000000));   // 1.2 - ... enough for one
  EXPECT_FALSE(r.allow("c", t + 600000000));
}

TEST(ServiceAdmission, RateLimiterMemoryIsBounded) {
  RateLimiter r;
  r.configure(1.0, 1);
  for (size_t i = 0; i < RateLimiter::kMaxClients + 100; ++i) r.allow("client" + std::to_string(i), 0);
  EXPECT_LE(r.clients(), RateLimiter::kMaxClients);
}

}  // namespace
}  // namespace airt::service
