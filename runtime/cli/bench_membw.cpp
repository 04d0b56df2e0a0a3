#include "runtime/cli/bench_membw.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "runtime/core/clock.h"

namespace airt::cli {
namespace {

// Eight independent sums so the loop is bound by loads, not by one add chain.
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t s[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += p[i + size_t(k)];
  for (; i < n; ++i) s[0] += p[i];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

}  // namespace

double bench_membw_gbps(size_t bytes, int32_t threads, int passes) {
  const size_t words = std::max<size_t>(bytes / sizeof(uint64_t), 1024);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[words]);
  for (size_t i = 0; i < words; ++i) buf[i] = i;
  const size_t n_threads = size_t(std::max(threads, 1));
  const size_t per = (words + n_threads - 1) / n_threads;
  std::vector<uint64_t> sums(n_threads);
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    std::vector<std::thread> pool;
    const int64_t t0 = now_ns();
    for (size_t t = 0; t < n_threads; ++t) {
      const size_t lo = std::min(words, t * per), hi = std::min(words, lo + per);
      pool.emplace_back([&, t, lo, hi] { sums[t] = sum_words(buf.get() + lo, hi - lo); });
    }
    for (auto& th : pool) th.join();
    const double s = double(now_ns() - t0) / 1e9;
    if (s > 0) best = std::max(best, double(words * sizeof(uint64_t)) / s / 1e9);
  }
  // The sums are used so the reads cannot be optimised away.
  volatile uint64_t sink = 0;
  for (uint64_t v : sums) sink = sink + v;
  return best;
}

}  // namespace airt::cli
