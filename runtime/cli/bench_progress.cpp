#include "runtime/cli/bench_progress.h"

#include <unistd.h>

#include <cstdio>

#include "runtime/core/clock.h"

namespace airt::cli {

BenchProgress::BenchProgress(int64_t total_steps)
    : total_(total_steps), start_ns_(now_ns()), on_(isatty(STDERR_FILENO) == 1) {
  if (on_) draw();
}

void BenchProgress::step() {
  ++done_;
  if (on_) draw();
}

void BenchProgress::done() {
  if (on_) std::fputs("\r\033[K", stderr);
  on_ = false;
}

void BenchProgress::draw() const {
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? int(done_ * kWidth / total_) : kWidth;
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '-';
  bar[kWidth] = 0;
  // The ETA assumes the remaining repetitions take as long as the finished ones.
  const double elapsed = double(now_ns() - start_ns_) / 1e9;
  if (done_ == 0) {
    std::fprintf(stderr, "\r\033[Kbench [%s] 0/%lld", bar, (long long)total_);
  } else {
    const int eta = int(elapsed / double(done_) * double(total_ - done_) + 0.5);
    std::fprintf(stderr, "\r\033[Kbench [%s] %lld/%lld  ETA %d:%02d", bar, (long long)done_, (long long)total_,
                 eta / 60, eta % 60);
  }
  std::fflush(stderr);
}

}  // namespace airt::cli
