#include "runtime/cli/bench_slots.h"

#include <algorithm>

#include "runtime/cli/bench_stats.h"
#include "runtime/core/clock.h"

namespace airt::cli {

Result<std::unique_ptr<SlotsBench>> SlotsBench::create(const model::Model& m, const text::Tokenizer& tok,
                                                       const ModelOptions& o, int32_t n_slots, int32_t n_gen,
                                                       int32_t depth) {
  engine::EngineConfig c = o.engine_config();
  c.n_slots = n_slots;
  c.n_ctx = depth + n_gen + 1;
  // Without depth a prompt is one token; with it the prefix is prefilled in chunks.
  c.prefill_chunk = depth > 0 ? std::min(depth + 1, 64) : 1;
  c.n_batch = n_slots - 1 + c.prefill_chunk;
  c.keep_cache = depth > 0;
  auto b = std::make_unique<SlotsBench>();
  b->engine_ = AIRT_TRY(make_engine(o, m, tok, c));
  b->n_slots_ = n_slots;
  b->n_gen_ = n_gen;
  b->depth_ = depth;
  return b;
}

Result<RepTiming> SlotsBench::run(uint64_t seed) {
  const int32_t n_vocab = engine_->n_vocab();
  std::vector<std::vector<int32_t>> prompts(size_t(n_slots_), bench_tokens(depth_, n_vocab, 0));
  const int64_t t_submit = now_ns();
  for (int32_t s = 0; s < n_slots_; ++s) {
    prompts[size_t(s)].push_back(int32_t((seed * 2654435761u + uint64_t(s) * 40503u) % uint64_t(n_vocab)));
    engine::Request r;
    r.prompt_tokens = prompts[size_t(s)];
    r.max_tokens = n_gen_;
    r.ignore_eos = true;
    r.sampling.temp = 0;
    AIRT_TRY(engine_->submit(engine::Ticket(s + 1), r));
  }
  TimingSink sink(n_slots_, n_gen_);
  auto all_started = [&] {
    return std::all_of(sink.stamps.begin(), sink.stamps.end(), [](const auto& v) { return !v.empty(); });
  };
  bool active = true;
  while (active && !all_started()) active = engine_->step(sink);
  int64_t before = 0;
  for (const auto& v : sink.stamps) before += int64_t(v.size());
  const int64_t t0 = now_ns();
  while (active) active = engine_->step(sink);
  const int64_t t1 = now_ns();
  if (sink.failed) return sink.error;
  if (sink.finished != n_slots_) return errorf(Error::kInternal, "bench: %d of %d sequences finished", sink.finished, n_slots_);
  RepTiming out;
  out.seconds = double(t1 - t0) / 1e9;
  double ttft = 0;
  for (const auto& v : sink.stamps) {
    out.tokens += int64_t(v.size());
    ttft += double(v.front() - t_submit) / 1e6;
    bench_gaps_ms(v, out.gaps_ms);
  }
  out.tokens -= before;
  out.ttft_ms = ttft / double(n_slots_);
  return out;
}

}  // namespace airt::cli
