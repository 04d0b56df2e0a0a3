#include "tests/support/engine_eval.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "hal/cpu/kernels.h"

namespace airt::test {

Loaded load_model(const std::string& path) {
  Loaded l;
  auto m = model::Model::load(path);
  EXPECT_TRUE(m.ok()) << m.error().message;
  if (!m.ok()) return l;
  l.model = std::move(*m);
  auto tok = text::Tokenizer::from_gguf(l.model->file());
  EXPECT_TRUE(tok.ok()) << tok.error().message;
  if (tok.ok()) l.tok = std::move(*tok);
  return l;
}

void make_engine(Loaded& l, const engine::EngineConfig& c) {
  if (!l.model || !l.tok) return;
  auto e = engine::Engine::create(*l.model, *l.tok, c);
  EXPECT_TRUE(e.ok()) << e.error().message;
  if (e.ok()) l.engine = std::move(*e);
}
namespace {

struct LogitsSink : engine::Sink {
  std::vector<float>* out = nullptr;
  std::vector<int32_t>* ids = nullptr;
  ErrorInfo error;
  bool failed = false;
  void on_logits(engine::Ticket, int32_t, std::span<const float> row) override {
    out->insert(out->end(), row.begin(), row.end());
  }
  void on_token(engine::Ticket, int32_t id, std::string_view) override {
    if (ids) ids->push_back(id);
  }
  void on_finish(engine::Ticket, const engine::Finish&) override {}
  void on_error(engine::Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

}  // namespace

engine::EngineConfig scoring_config(int32_t n_ctx, int32_t n_batch) {
  engine::EngineConfig c;
  c.n_ctx = n_ctx;
  c.prefill_chunk = n_batch;
  c.n_batch = n_batch;
  c.n_logits = n_batch;
  return c;
}

std::vector<float> engine_logits(engine::Engine& e, std::span<const int32_t> ids, int32_t n_greedy,
                                 std::vector<int32_t>* greedy) {
  std::vector<float> out;
  LogitsSink sink;
  sink.out = &out;
  sink.ids = greedy;
  engine::Request r;
  r.prompt_tokens = ids;
  r.max_tokens = n_greedy;
  r.prompt_only = n_greedy == 0;
  r.logits_all = true;
  r.ignore_eos = true;
  r.sampling.temp = 0;
  Status s = e.submit(99, r);
  EXPECT_TRUE(s.ok()) << s.error().message;
  if (!s.ok()) return {};
  while (e.step(sink)) {
  }
  EXPECT_FALSE(sink.failed) << sink.error.message;
  EXPECT_EQ(out.size(), ids.size() * size_t(e.n_vocab()));
  return out;
}

BackendRig::BackendRig(const model::Model& m, int32_t n_seq, int32_t n_ctx, int32_t n_rows, model::KvTypes t,
                       int threads) {
  model::KvParams kp;
  kp.n_seq = n_seq;
  kp.n_ctx = n_ctx;
  kp.types = t;
  kp.n_step = n_rows;
  model::BackendParams bp;
  bp.n_rows = n_rows;
  bp.n_logits = n_rows;
  bp.max_visible = model::KvCache::blocks_per_seq(kp) * kp.block;
  bp.kernels = hal::kernels_best().value();
  bp.n_threads = threads;
  bp.kv = kp;
  MemoryPlan plan;
  EXPECT_TRUE(model::backend_plan(m, bp, plan).ok());
  arena = std::move(Arena::reserve(plan.arena_bytes() + model::KvCache::arena_bytes(m.hparams(), kp)).value());
  EXPECT_TRUE(kv.carve(arena, m.hparams(), kp).ok());
  backend = std::move(model::backend_create(m, bp).value());
  EXPECT_TRUE(backend->carve(arena).ok());
  EXPECT_TRUE(backend->set_tier(0).ok());
}

Status BackendRig::eval(std::span<const int32_t> token, std::span<const int32_t> pos, std::span<const int32_t> seq,
                        std::span<const int32_t> keep) {
  for (size_t i = 0; i < token.size(); ++i) {
    if (pos[i] == kv.seq_pos(seq[i])) AIRT_TRY(kv.seq_append(seq[i], 1));
  }
  return backend->eval({token, pos, seq, keep}, kv);
}

}  // namespace airt::test
