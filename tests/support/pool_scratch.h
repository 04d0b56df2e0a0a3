// Tests that make a thread pool attach its scratch from an arena of their own, as an
// engine's backend attaches its planned "thread scratch" region.
#pragma once

#include <gtest/gtest.h>

#include "hal/cpu/thread_pool.h"
#include "runtime/core/arena.h"

namespace airt::test {

// Reserves ThreadPool::scratch_bytes(pool.size()) and attaches it; the arena must outlive
// the pool's last run().
inline Arena attach_scratch(hal::ThreadPool& pool) {
  const size_t bytes = hal::ThreadPool::scratch_bytes(pool.size());
  auto a = Arena::reserve(bytes);
  EXPECT_TRUE(a.ok()) << a.error().message;
  if (!a.ok()) return {};
  const Status s = pool.attach_scratch(a->alloc(bytes), bytes);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return std::move(*a);
}

}  // namespace airt::test
