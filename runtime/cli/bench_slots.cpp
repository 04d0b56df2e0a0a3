#include "runtime/cli/bench_slots.h"

#include "runtime/core/clock.h"

namespace airt::cli {
namespace {

struct CountingSink : engine::Sink {
  int64_t tokens = 0;
  int32_t finished = 0;
  ErrorInfo error;
  bool failed = false;
  void on_token(engine::Ticket, int32_t, std::string_view) override { ++tokens; }
  void on_finish(engine::Ticket, const engine::Finish&) override { ++finished; }
  void on_error(engine::Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

}  // namespace

Result<std::unique_ptr<SlotsBench>> SlotsBench::create(const model::Model& m, const text::Tokenizer& tok,
                                                       const ModelOptions& o, int32_t n_slots, int32_t n_gen) {
  engine::EngineConfig c = o.engine_config();
  c.n_slots = n_slots;
  c.n_ctx = n_gen + 1;
  c.prefill_chunk = 1;
  c.n_batch = n_slots;
  auto b = std::make_unique<SlotsBench>();
  b->engine_ = AIRT_TRY(make_engine(o, m, tok, c));
  b->n_slots_ = n_slots;
  b->n_gen_ = n_gen;
  return b;
}

Result<double> SlotsBench::run(uint64_t seed) {
  const int32_t n_vocab = engine_->model().hparams().n_vocab;
  for (int32_t s = 0; s < n_slots_; ++s) {
    int32_t first = int32_t((seed * 2654435761u + uint64_t(s) * 40503u) % uint64_t(n_vocab));
    engine::Request r;
    r.prompt_tokens = {&first, 1};
    r.max_tokens = n_gen_;
    r.ignore_eos = true;
    r.sampling.temp = 0;
    AIRT_TRY(engine_->submit(engine::Ticket(s + 1), r));
  }
  CountingSink sink;
  engine_->step(sink);  // prefill of every one-token prompt, and the first sampled tokens
  const int64_t before = sink.tokens;
  const double t0 = now_ms();
  while (engine_->step(sink)) {
  }
  const double ms = now_ms() - t0;
  if (sink.failed) return sink.error;
  if (sink.finished != n_slots_) return errorf(Error::kInternal, "bench: %d of %d sequences finished", sink.finished, n_slots_);
  return double(sink.tokens - before) * 1000.0 / ms;
}

}  // namespace airt::cli
