#include "runtime/cli/bench_sampler.h"

#include <chrono>
#include <cstdio>
#include <cstring>

#include "governor/sensors/board.h"
#include "governor/sensors/cpu.h"
#include "runtime/core/clock.h"

namespace airt::cli {

BenchSampler::BenchSampler(std::string root, int period_ms)
    : root_(std::move(root)), period_ms_(period_ms), start_ns_(now_ns()) {
  samples_.reserve(4096);
  samples_.push_back(read_now());
  thread_ = std::thread([this] { loop(); });
}

BenchSampler::~BenchSampler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

double BenchSampler::clock_s() const { return double(now_ns() - start_ns_) / 1e9; }

BoardSample BenchSampler::read_now() const {
  BoardSample s;
  s.t_s = clock_s();
  const governor::BoardReading b = governor::read_board(root_);
  s.celsius = b.max_celsius;
  s.watts = b.power_watts;
  const governor::CpuReading c = governor::read_cpu(root_);
  s.mhz = c.cur_mhz;
  s.throttled = c.throttled();
  return s;
}

void BenchSampler::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(period_ms_), [this] { return stop_; })) {
    lock.unlock();
    BoardSample s = read_now();  // sysfs reads outside the lock
    lock.lock();
    samples_.push_back(s);
  }
}

std::vector<BoardSample> BenchSampler::samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_;
}

std::vector<PowerSample> BenchSampler::power_trace() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PowerSample> out;
  for (const BoardSample& s : samples_)
    if (s.watts) out.push_back({s.t_s, *s.watts});
  return out;
}

size_t bench_peak_rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kib = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) kib = size_t(std::strtoull(line + 6, nullptr, 10));
  }
  std::fclose(f);
  return kib * 1024;
}

bool bench_reset_peak_rss() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace airt::cli
