#include "runtime/cli/bench_run.h"

#include <algorithm>

#include "runtime/cli/bench_stats.h"
#include "runtime/core/clock.h"

namespace airt::cli {

TimingSink::TimingSink(int32_t n_tickets, int32_t n_tokens) : stamps(size_t(n_tickets)) {
  for (auto& s : stamps) s.reserve(size_t(n_tokens) + 1);
}

void TimingSink::on_token(engine::Ticket t, int32_t, std::string_view) {
  if (t >= 1 && t <= stamps.size()) stamps[t - 1].push_back(now_ns());
}

std::vector<int32_t> bench_tokens(int32_t n, int32_t n_vocab, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  uint64_t s = 88172645463325252ull ^ (seed * 0x9E3779B97F4A7C15ull);
  for (auto& id : ids) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    id = int32_t(s % uint64_t(n_vocab));
  }
  // Repetitions differ in their first token, so a kept cache never covers more than the
  // depth prefix (seed 0 is the prefix itself).
  if (!ids.empty() && seed > 0) ids[0] = int32_t((seed * 7919u) % uint64_t(n_vocab));
  return ids;
}

int32_t bench_ctx_needed(const BenchTest& t, int32_t depth) {
  return depth + std::max(t.n_prompt, 1) + t.n_gen + 1;
}

Result<RepTiming> bench_run_rep(engine::Engine& e, const BenchTest& t, int32_t depth, uint64_t rep) {
  std::vector<int32_t> prompt = bench_tokens(depth, e.n_vocab(), 0);
  const std::vector<int32_t> tail = bench_tokens(std::max(t.n_prompt, 1), e.n_vocab(), rep + 1);
  prompt.insert(prompt.end(), tail.begin(), tail.end());
  engine::Request r;
  r.prompt_tokens = prompt;
  r.prompt_only = t.n_gen == 0;
  r.max_tokens = std::max(t.n_gen, 1);
  r.ignore_eos = true;
  r.sampling.temp = 0;
  TimingSink sink(1, t.n_gen);
  const int64_t t0 = now_ns();
  AIRT_TRY(e.submit(1, r));
  while (e.step(sink)) {
  }
  const int64_t t1 = now_ns();
  if (sink.failed) return sink.error;
  RepTiming out;
  out.seconds = double(t1 - t0) / 1e9;
  out.tokens = t.n_prompt + t.n_gen;
  const auto& st = sink.stamps[0];
  out.ttft_ms = st.empty() ? out.seconds * 1e3 : double(st.front() - t0) / 1e6;
  bench_gaps_ms(st, out.gaps_ms);
  return out;
}

}  // namespace airt::cli
