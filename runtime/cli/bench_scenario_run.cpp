// One policy's run of a scenario: the request stream, the emulated clock and, for the
// governed policy, the GovernorLoop in the engine's step hook. Everything the loop
// touches is sized before it starts, so the loop itself allocates nothing (the memory
// scenario's test counts it).
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "runtime/cli/bench_run.h"
#include "runtime/cli/bench_scenario.h"
#include "runtime/cli/bench_stats.h"
#include "runtime/core/clock.h"
#include "runtime/engine/governed.h"

namespace airt::cli {
namespace {

constexpr int64_t kIdleTickNs = 20'000'000;  // how often an idle run looks at the trace
constexpr size_t kMaxSamples = size_t(1) << 16;
constexpr size_t kMaxResubmitted = 4096;
constexpr int32_t kPrompts = 8;  // distinct prompts, cycled

void sleep_ns(int64_t ns) {
  if (ns <= 0) return;
  timespec ts{time_t(ns / 1'000'000'000), long(ns % 1'000'000'000)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

template <class T>
void push(std::vector<T>& v, const T& x) {  // never grows: a full record drops the rest
  if (v.size() < v.capacity()) v.push_back(x);
}

struct Req {
  int64_t arrival_ns = 0, ttft_due_ns = 0, due_ns = 0;  // due: 0 = none
  int64_t first_ns = 0, last_ns = 0;
  int32_t tokens = 0;
  bool submitted = false, done = false;
};

class Run final : public engine::Sink {
 public:
  Run(engine::Engine& e, const governor::Trace& trace, const governor::Space& space, std::span<const double> ppl,
      const RequestMix& mix, const PolicyRun& policy);
  Result<PolicyResult> go(const std::function<int64_t()>& alloc_count);

  void on_token(engine::Ticket t, int32_t, std::string_view) override;
  void on_finish(engine::Ticket t, const engine::Finish& f) override;
  void on_error(engine::Ticket t, const ErrorInfo&) override { finish(size_t(t - 1), false, true); }

 private:
  double trace_t(int64_t ns) const { return trace_.start_s() + double(ns - t0_) / 1e9; }
  void arrivals(int64_t now);
  void admit(int64_t now);
  engine::Request request(size_t i) const;
  void fill_slots();
  void pause();
  Status make_loop();
  void account(int64_t now, const governor::Snapshot& snap, float step_ms);
  void finish(size_t i, bool met, bool failed);
  bool arrivals_left(double t) const;
  Result<PolicyResult> result(int64_t end, int64_t allocations);

  engine::Engine& e_;
  const governor::Trace& trace_;
  governor::Sensors sensors_;
  const governor::Space& space_;
  std::span<const double> ppl_;
  const RequestMix& mix_;
  const PolicyRun& policy_;
  std::vector<std::vector<int32_t>> prompts_;
  std::vector<Req> reqs_;
  std::vector<size_t> pending_;  // arrived, admitted, waiting for a slot (oldest first)
  std::vector<double> gaps_;
  std::unique_ptr<engine::GovernorLoop> loop_;
  PolicyResult out_;
  int64_t t0_ = 0, last_ns_ = 0;
  int64_t step_start_ns_ = 0;
  bool paused_ = true;  // this step's pause is taken (or no step is running)
  double ppl_time_ = 0;
  size_t point_ = 0;
  int32_t live_ = 0;  // submitted and not finished
};

Run::Run(engine::Engine& e, const governor::Trace& trace, const governor::Space& space, std::span<const double> ppl,
         const RequestMix& mix, const PolicyRun& policy)
    : e_(e), trace_(trace), sensors_(governor::Sensors::replay(trace)), space_(space), ppl_(ppl), mix_(mix),
      policy_(policy) {
  for (int32_t i = 0; i < kPrompts; ++i) prompts_.push_back(bench_tokens(mix.prompt, e.n_vocab(), uint64_t(i) + 7));
  size_t n = mix.resubmit ? kMaxResubmitted
                          : size_t(std::floor((trace.end_s() - trace.start_s()) / mix.every_s)) + 1;
  if (mix.requests > 0) n = std::min(n, size_t(mix.requests));
  reqs_.reserve(n);
  pending_.reserve(n);
  gaps_.reserve(n * size_t(mix.max_tokens));
  out_.samples.reserve(kMaxSamples);
  out_.misses_s.reserve(n);
  out_.policy = policy.name;
}

bool Run::arrivals_left(double t) const {
  if (t >= trace_.end_s() || reqs_.size() == reqs_.capacity()) return false;
  return true;
}

void Run::arrivals(int64_t now) {
  const double t = trace_t(now);
  if (mix_.resubmit) {
    while (arrivals_left(t) && live_ + int32_t(pending_.size()) < e_.config().n_slots) admit(now);
    return;
  }
  while (arrivals_left(t) && trace_.start_s() + double(reqs_.size()) * mix_.every_s <= t) admit(now);
}

// A new request: the governor may refuse it at once (deadline_unmeetable, overloaded).
void Run::admit(int64_t now) {
  Req r;
  r.arrival_ns = now;
  if (mix_.ttft_ms > 0) r.ttft_due_ns = now + int64_t(mix_.ttft_ms * 1e6);
  if (mix_.deadline_ms > 0) r.due_ns = now + int64_t(mix_.deadline_ms * 1e6);
  reqs_.push_back(r);
  ++out_.requests;
  if (loop_ && !loop_->admit(engine::Ticket(reqs_.size()), request(reqs_.size() - 1), false).ok) {
    ++out_.refused;
    reqs_.back().done = true;
    push(out_.misses_s, float(double(now - t0_) / 1e9));
    return;
  }
  pending_.push_back(reqs_.size() - 1);
}

engine::Request Run::request(size_t i) const {
  const Req& q = reqs_[i];
  engine::Request r;
  r.prompt_tokens = prompts_[i % prompts_.size()];
  r.max_tokens = mix_.max_tokens;
  r.ignore_eos = true;
  r.sampling.temp = 0;
  r.arrival_ns = q.arrival_ns;
  r.first_token_deadline_ns = q.ttft_due_ns;
  r.deadline_ns = q.due_ns;
  return r;
}

void Run::fill_slots() {
  size_t taken = 0;
  for (; taken < pending_.size() && e_.free_slots() > 0; ++taken) {
    const size_t i = pending_[taken];
    reqs_[i].submitted = true;
    ++live_;
    if (!e_.submit(engine::Ticket(i + 1), request(i)).ok()) finish(i, false, true);
  }
  pending_.erase(pending_.begin(), pending_.begin() + std::ptrdiff_t(taken));
}

// The duty cycle that makes the trace's clock real: called inside the step, so the
// step's record includes it.
void Run::pause() {
  paused_ = true;
  const int64_t now = now_ns();
  const governor::Snapshot snap = sensors_.read(trace_t(now));
  double ratio = 1;
  if (snap.cpu_mhz && snap.cpu_max_mhz && *snap.cpu_max_mhz > 0)
    ratio = std::clamp(*snap.cpu_mhz / *snap.cpu_max_mhz, 0.05, 1.0);
  sleep_ns(int64_t(double(now - step_start_ns_) * (1.0 / ratio - 1.0)));
}

void Run::account(int64_t now, const governor::Snapshot& snap, float step_ms) {
  // The loop's index: the engine's own point may resolve knobs (threads, sinks) further.
  if (loop_ && loop_->applied_point() != point_) {
    point_ = loop_->applied_point();
    ++out_.switches;
  }
  ppl_time_ += ppl_[point_] * double(now - last_ns_) / 1e9;
  last_ns_ = now;
  ScenarioSample s;
  s.t_s = float(double(now - t0_) / 1e9);
  s.temp_c = float(snap.temp_c.value_or(0)), s.mhz = float(snap.cpu_mhz.value_or(0));
  s.mem_mb = float(snap.mem_avail_mb.value_or(0));
  s.step_ms = step_ms;
  s.point = int16_t(point_);
  s.window = int16_t(space_[point_].window);
  s.kv_bits = uint8_t(space_[point_].kv_k == hal::DType::kF16 ? 16 : space_[point_].kv_k == hal::DType::kQ8_0 ? 8 : 4);
  push(out_.samples, s);
}

void Run::on_token(engine::Ticket t, int32_t, std::string_view) {
  if (!paused_) pause();
  Req& q = reqs_[size_t(t - 1)];
  const int64_t now = now_ns();
  if (q.tokens > 0) push(gaps_, double(now - q.last_ns) / 1e6);
  else q.first_ns = now;
  q.last_ns = now;
  ++q.tokens;
  ++out_.tokens;
}

// Judged on this run's own stamps: the engine's first-token time is taken before the
// step's pause.
void Run::on_finish(engine::Ticket t, const engine::Finish& f) {
  const Req& q = reqs_[size_t(t - 1)];
  const int64_t now = now_ns();
  const bool in_time = f.reason != engine::FinishReason::kDeadline && q.tokens >= mix_.max_tokens &&
                       (!q.ttft_due_ns || (q.first_ns && q.first_ns <= q.ttft_due_ns)) &&
                       (!q.due_ns || now <= q.due_ns);
  finish(size_t(t - 1), in_time, false);
}

void Run::finish(size_t i, bool met, bool failed) {
  Req& q = reqs_[i];
  if (q.done) return;
  q.done = true;
  if (q.submitted) --live_;
  if (failed) ++out_.failed;
  if (met) {
    ++out_.met;
    return;
  }
  ++out_.missed;
  push(out_.misses_s, float(double(now_ns() - t0_) / 1e9));
}

Status Run::make_loop() {
  engine::GovernorLoopConfig c;
  c.governor = policy_.config;
  c.clock = [this] { return trace_t(now_ns()); };
  if (policy_.print_events)
    c.on_event = [](const governor::Event& ev) { std::fprintf(stderr, "  %7.2f s  %s\n", ev.t_s, ev.reason); };
  auto space = AIRT_TRY(governor::Space::make(space_.config()));  // the same points, the same order
  loop_ = AIRT_TRY(engine::GovernorLoop::create(e_, governor::Sensors::replay(trace_), std::move(space),
                                                policy_.quality, policy_.profile, std::move(c)));
  return {};
}

Result<PolicyResult> Run::go(const std::function<int64_t()>& alloc_count) {
  t0_ = last_ns_ = now_ns();
  if (policy_.governed) {
    AIRT_TRY(make_loop());
  } else {
    AIRT_TRY(e_.apply(space_[policy_.fixed]));
  }
  point_ = loop_ ? loop_->applied_point() : policy_.fixed;
  const int64_t allocs0 = alloc_count ? alloc_count() : 0;
  for (;;) {
    const int64_t now = now_ns();
    const double t = trace_t(now);
    arrivals(now);
    fill_slots();
    if (e_.busy()) {
      step_start_ns_ = now_ns(), paused_ = false;
      e_.step(*this);
      paused_ = true;
      const int64_t end = now_ns();
      account(end, sensors_.read(trace_t(end)), float(double(end - step_start_ns_) / 1e6));
      continue;
    }
    if (!arrivals_left(t) && pending_.empty()) break;
    account(now, sensors_.read(t), 0);
    if (loop_) loop_->tick();
    const double next = trace_.start_s() + double(reqs_.size()) * mix_.every_s;
    const int64_t until = mix_.resubmit ? kIdleTickNs : int64_t((next - t) * 1e9);
    sleep_ns(std::clamp<int64_t>(until, 0, kIdleTickNs));
  }
  const int64_t allocations = alloc_count ? alloc_count() - allocs0 : -1;
  loop_.reset();  // removes its step hook
  return result(now_ns(), allocations);
}

Result<PolicyResult> Run::result(int64_t end, int64_t allocations) {
  ppl_time_ += ppl_[point_] * double(end - last_ns_) / 1e9;
  out_.allocations = allocations;
  out_.duration_s = double(end - t0_) / 1e9;
  out_.missed = out_.requests - out_.met;  // refused and never finished count as missed
  out_.tokens_per_s = out_.duration_s > 0 ? double(out_.tokens) / out_.duration_s : 0;
  out_.itl_p50_ms = bench_percentile(gaps_, 50).value_or(0);
  out_.itl_p99_ms = bench_percentile(gaps_, 99).value_or(0);
  out_.switches_per_min = out_.duration_s > 0 ? out_.switches * 60.0 / out_.duration_s : 0;
  out_.mean_ppl = out_.duration_s > 0 ? ppl_time_ / out_.duration_s : 0;
  const double best = *std::min_element(ppl_.begin(), ppl_.end());
  out_.ppl_ratio = best > 0 ? out_.mean_ppl / best : 0;
  out_.grew_back = ppl_[point_] <= best;
  return std::move(out_);
}

}  // namespace

Result<PolicyResult> run_scenario(engine::Engine& e, const governor::Trace& trace, const governor::Space& space,
                                  std::span<const double> ppl, const RequestMix& mix, const PolicyRun& policy,
                                  const std::function<int64_t()>& alloc_count) {
  if (ppl.size() != space.size())
    return errorf(Error::kInternal, "scenario: %zu perplexities for %zu points", ppl.size(), space.size());
  if (!mix.resubmit && mix.every_s <= 0)
    return errorf(Error::kRequestOutOfRange, "scenario: requests must arrive at least 0 s apart");
  Run run(e, trace, space, ppl, mix, policy);
  return run.go(alloc_count);
}

}  // namespace airt::cli

