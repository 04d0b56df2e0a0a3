#include "runtime/engine/draft/model_drafter.h"

#include <algorithm>
#include <cstdio>

#include "runtime/core/clock.h"
#include "runtime/engine/engine_slot.h"

namespace airt::engine {

model::KvParams ModelDrafter::kv_params(const DraftParams& p) {
  model::KvParams kp;
  kp.n_seq = p.n_seq;
  kp.n_ctx = p.n_ctx;
  kp.block = p.kv_block;
  kp.types = p.kv_types;
  kp.n_step = p.chunk;
  return kp;
}

Result<model::BackendParams> ModelDrafter::backend_params(const DraftSpec& spec, const model::Model& target,
                                                          const DraftParams& p, hal::ThreadPool* pool) {
  const model::Model& m = evaluated(spec, target);
  model::BackendParams bp;
  bp.n_rows = p.chunk;
  bp.n_logits = 1;
  bp.n_threads = p.n_threads;
  bp.kernels = p.kernels;
  bp.kv = kv_params(p);
  bp.max_visible = model::KvCache::blocks_per_seq(bp.kv) * p.kv_block;
  bp.shared_pool = pool;
  if (&m == &target) bp.tier_weights = p.target_weights;
  const int32_t n_layer = m.hparams().n_layer;
  std::vector<int32_t> skip = spec.layers;
  // skip=N: every other layer from the second-to-last down; the first and last stay.
  for (int32_t l = n_layer - 2, left = spec.skip; left > 0 && l >= 1; l -= 2, --left) skip.push_back(l);
  if (spec.kind == DraftSpec::Kind::kSelf && int32_t(skip.size()) < std::max(spec.skip, 1)) {
    return errorf(Error::kRequestOutOfRange, "--draft %s: the model has %d layers; at most %d can be skipped this way",
                  spec.text.c_str(), n_layer, std::max(0, (n_layer - 1) / 2));
  }
  for (int32_t l : skip) {
    if (l < 0 || l >= n_layer || l >= model::BackendParams::kMaxSkipLayer) {
      return errorf(Error::kRequestOutOfRange, "--draft %s: layer %d is outside the model's 0..%d", spec.text.c_str(), l,
                    n_layer - 1);
    }
    bp.skip[size_t(l) / 64] |= uint64_t(1) << (l % 64);
  }
  if (spec.kind == DraftSpec::Kind::kSelf && int32_t(skip.size()) >= n_layer) {
    return errorf(Error::kRequestOutOfRange, "--draft %s skips every layer", spec.text.c_str());
  }
  return bp;
}

void ModelDrafter::plan_tables(const DraftParams& p, MemoryPlan& plan) {
  const size_t a = Arena::kDefaultAlign;
  char d[160];
  std::snprintf(d, sizeof d, "%d x %d tokens evaluated, %d rows a pass", p.n_seq, p.n_ctx, p.chunk);
  plan.add("draft tables",
           align_up(size_t(p.n_seq) * size_t(p.n_ctx) * 4, a) + 2 * align_up(size_t(p.n_seq) * 4, a) +
               3 * align_up(size_t(p.chunk) * 4, a),
           RegionKind::kResident, d);
}

Result<std::unique_ptr<ModelDrafter>> ModelDrafter::create(const DraftSpec& spec, const model::Model& target,
                                                           const DraftParams& p, hal::ThreadPool* pool) {
  const model::Model& m = evaluated(spec, target);
  auto d = std::unique_ptr<ModelDrafter>(new ModelDrafter(m, p));
  model::BackendParams bp = AIRT_TRY(backend_params(spec, target, p, pool));
  AIRT_TRY(model::KvCache::check(m.hparams(), bp.kv));
  if (spec.kind == DraftSpec::Kind::kTier) {
    d->tier_ = m.find_tier(spec.tier);
    if (d->tier_ < 0) {
      return errorf(Error::kRequestInvalid, "--draft %s: the model has no tier %s (add it with --ladder FILE)",
                    spec.text.c_str(), spec.tier.c_str());
    }
  }
  switch (spec.kind) {
    case DraftSpec::Kind::kTier: d->name_ = "tier " + spec.tier; break;
    case DraftSpec::Kind::kSelf: d->name_ = "self " + spec.text.substr(5); break;
    default: d->name_ = "model " + spec.path.substr(spec.path.find_last_of('/') + 1); break;
  }
  d->pass_bytes_ = model::pass_bytes(m.tier(d->tier_).weights, bp.skip);
  d->backend_ = AIRT_TRY(model::backend_create(m, bp));
  AIRT_TRY(d->backend_->bind(m));
  return d;
}

Status ModelDrafter::carve(Arena& arena) {
  const model::BackendParams& bp = backend_->params();
  AIRT_TRY(kv_.carve(arena, m_.hparams(), bp.kv));
  AIRT_TRY(backend_->carve(arena));
  AIRT_TRY(backend_->set_tier(tier_));
  done_ = arena.alloc_array<int32_t>(size_t(p_.n_seq) * size_t(p_.n_ctx)).data();
  n_done_ = arena.alloc_array<int32_t>(size_t(p_.n_seq)).data();
  offset_ = arena.alloc_array<int32_t>(size_t(p_.n_seq)).data();
  row_tok_ = arena.alloc_array<int32_t>(size_t(p_.chunk)).data();
  row_pos_ = arena.alloc_array<int32_t>(size_t(p_.chunk)).data();
  row_seq_ = arena.alloc_array<int32_t>(size_t(p_.chunk)).data();
  if (!row_seq_ || !done_ || !offset_) return errorf(Error::kInternal, "drafter: the arena is smaller than its plan");
  return {};
}

void ModelDrafter::forget(int32_t seq) {
  kv_.seq_clear(seq);
  n_done_[seq] = 0;
  offset_[seq] = 0;
}

int32_t ModelDrafter::argmax() const {
  auto l = backend_->logits(0);
  const size_t n = std::min(l.size(), size_t(p_.n_vocab));
  return int32_t(std::max_element(l.begin(), l.begin() + std::ptrdiff_t(n)) - l.begin());
}

Result<int32_t> ModelDrafter::eval(int32_t seq, const int32_t* tokens, int32_t n, int32_t pos0) {
  const int32_t at = AIRT_TRY(kv_.seq_append(seq, n));
  if (at != pos0) return errorf(Error::kInternal, "drafter: position %d where %d was expected", at, pos0);
  for (int32_t i = 0; i < n; ++i) row_tok_[i] = tokens[i], row_pos_[i] = pos0 + i, row_seq_[i] = seq;
  const int32_t last = n - 1;
  model::Batch b{{row_tok_, size_t(n)}, {row_pos_, size_t(n)}, {row_seq_, size_t(n)}, {&last, 1}};
  AIRT_TRY(backend_->eval(b, kv_));
  int32_t* done = done_ + size_t(seq) * size_t(p_.n_ctx);
  std::copy(tokens, tokens + n, done + pos0);
  n_done_[seq] = pos0 + n;
  return argmax();
}

ModelDrafter::Start ModelDrafter::start(int32_t seq, std::span<const int32_t> full) const {
  const int32_t* done = done_ + size_t(seq) * size_t(p_.n_ctx);
  Start st;
  st.offset = std::min(offset_[seq], int32_t(full.size()));
  std::span<const int32_t> h = full.subspan(size_t(st.offset));
  int32_t common = common_prefix({done, size_t(n_done_[seq])}, h);
  if (int32_t(h.size()) - common > kMaxCatchUp || common == 0) {  // start over on the history's tail
    st.offset = std::max(0, int32_t(full.size()) - kWindow);
    h = full.subspan(size_t(st.offset));
    common = common_prefix({done, size_t(n_done_[seq])}, h);
  }
  st.n = int32_t(h.size());
  // Keep what matches the history, but evaluate its last token again for its logits.
  st.keep = std::min(common, st.n - 1);
  return st;
}

int32_t ModelDrafter::catch_up(int32_t seq, std::span<const int32_t> full) const {
  if (full.empty()) return 0;
  const Start st = start(seq, full);
  return std::max(0, st.n - st.keep - 1);  // the last row is the first guess's own pass
}

Result<int32_t> ModelDrafter::draft(int32_t seq, std::span<const int32_t> full, std::span<int32_t> out) {
  last_ = {};
  if (full.empty()) return 0;
  const Start st = start(seq, full);
  offset_[seq] = st.offset;
  const int32_t* h = full.data() + st.offset;
  const int32_t n = st.n;
  // Guesses stop where the context does: x_i is evaluated at position n - 1 + i.
  const int32_t k = std::min(int32_t(out.size()), p_.n_ctx - n + 1);
  if (k <= 0) return 0;
  if (kv_.seq_pos(seq) > st.keep) kv_.seq_truncate(seq, st.keep);
  const int64_t t0 = now_ns();
  int32_t x = 0;
  for (int32_t at = st.keep; at < n; at += p_.chunk) {
    x = AIRT_TRY(eval(seq, h + at, std::min(p_.chunk, n - at), at));
  }
  if (n - st.keep > 1) last_ = {n - st.keep - 1, now_ns() - t0};
  out[0] = x;
  for (int32_t i = 1; i < k; ++i) out[size_t(i)] = x = AIRT_TRY(eval(seq, &x, 1, n - 1 + i));
  return k;
}

}  // namespace airt::engine
