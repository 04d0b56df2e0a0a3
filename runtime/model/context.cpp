#include "runtime/model/context.h"

#include <algorithm>
#include <cstdio>

namespace airt::model {

int32_t context_length(const Model& m, const ContextParams& p) {
  if (p.n_ctx > 0) return p.n_ctx;
  return std::min(m.hparams().n_ctx_train, 2048);
}

KvParams Context::kv_params(const Model& m, const ContextParams& p) {
  KvParams kp;
  kp.n_seq = 1;
  kp.n_ctx = std::max(1, context_length(m, p));
  kp.block = p.kv_block;
  kp.types = p.kv_types;
  kp.window = p.window;
  kp.sinks = p.sinks;
  kp.n_step = std::max(1, std::min(p.n_batch, kp.n_ctx));
  return kp;
}

ForwardParams Context::forward_params(const Model& m, const ContextParams& p) {
  KvParams kp = kv_params(m, p);
  ForwardParams fp;
  fp.n_rows = kp.n_step;
  fp.n_logits = p.logits_all ? fp.n_rows : 1;
  fp.n_threads = p.pool ? p.pool->size() : 1;
  fp.max_visible = std::max(1, KvCache::blocks_per_seq(kp) * kp.block);
  fp.kernels = p.kernels;
  return fp;
}

MemoryPlan Context::plan(const Model& m, const ContextParams& p) {
  const Hparams& hp = m.hparams();
  KvParams kp = kv_params(m, p);
  MemoryPlan plan;
  plan.add("weights", m.weight_bytes(), RegionKind::kMapped, m.file().path());
  char detail[160];
  std::snprintf(detail, sizeof detail, "%d blocks x %d positions, %s, %zu B/position", KvCache::pool_blocks(kp),
                kp.block, kv_types_name(kp.types).c_str(), KvCache::bytes_per_position(hp, kp.types));
  plan.add("kv cache", KvCache::arena_bytes(hp, kp), RegionKind::kResident, detail);
  Forward::plan(m, forward_params(m, p), plan);
  plan.add("batch tables", 3 * align_up(size_t(kp.n_step) * sizeof(int32_t), Arena::kDefaultAlign));
  return plan;
}

Context::Context(const Model& m, const ContextParams& p) : model_(m), hp_(m.hparams()), params_(p), forward_(m) {}

Result<std::unique_ptr<Context>> Context::create(const Model& m, const ContextParams& p) {
  const int32_t ctx = context_length(m, p);
  if (ctx < 1 || ctx > (1 << 20)) {
    return errorf(Error::kRequestOutOfRange, "context length %d is out of range (1..1048576)", ctx);
  }
  if (p.n_batch < 1) return errorf(Error::kRequestOutOfRange, "batch size %d must be >= 1", p.n_batch);
  KvParams kp = kv_params(m, p);
  AIRT_TRY(KvCache::check(m.hparams(), kp));
  auto c = std::unique_ptr<Context>(new Context(m, p));
  c->n_ctx_ = ctx;
  c->n_batch_ = kp.n_step;
  MemoryPlan plan = Context::plan(m, p);
  c->arena_ = AIRT_TRY(Arena::reserve(plan.arena_bytes(), p.mlock));
  AIRT_TRY(c->kv_.carve(c->arena_, m.hparams(), kp));
  AIRT_TRY(c->forward_.carve(c->arena_, forward_params(m, p)));
  c->pos_ = c->arena_.alloc_array<int32_t>(size_t(kp.n_step)).data();
  c->seq_ = c->arena_.alloc_array<int32_t>(size_t(kp.n_step)).data();
  c->rows_ = c->arena_.alloc_array<int32_t>(size_t(kp.n_step)).data();
  if (!c->rows_) return errorf(Error::kInternal, "context: the arena is smaller than its plan");
  return c;
}

Status Context::eval(std::span<const int32_t> tokens) {
  const int32_t n = int32_t(tokens.size());
  if (n < 1 || n > n_batch_) {
    return errorf(Error::kRequestOutOfRange, "eval: %d tokens, must be 1..%d (the batch size)", n, n_batch_);
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= hp_.n_vocab) {
      return errorf(Error::kRequestInvalid, "eval: token id %d is outside the vocabulary (0..%d)", t, hp_.n_vocab - 1);
    }
  }
  const int32_t pos0 = AIRT_TRY(kv_.seq_append(0, n));
  const int32_t first = params_.logits_all ? 0 : n - 1;
  for (int32_t i = 0; i < n; ++i) {
    pos_[i] = pos0 + i;
    seq_[i] = 0;
    rows_[i] = first + i;
  }
  n_logits_ = n - first;
  Batch b{tokens, {pos_, size_t(n)}, {seq_, size_t(n)}, {rows_, size_t(n_logits_)}};
  forward_.eval(b, kv_, params_.pool);
  return {};
}

void Context::restore_logits(std::span<const float> l) {
  std::copy_n(l.begin(), std::min(l.size(), size_t(hp_.n_vocab)), forward_.logits_mut(0));
  n_logits_ = 1;
}

std::span<const float> Context::logits(int32_t i) const {
  if (i < 0) i = n_logits_ - 1;
  return forward_.logits(i);
}

}  // namespace airt::model
