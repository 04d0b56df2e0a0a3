#include "runtime/model/context.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hal/cpu/matmul.h"

namespace airt::model {
namespace {

hal::MatrixView view(const WeightTensor& w) { return {w.data, w.type, w.cols, w.rows, w.row_bytes}; }

// Bytes of the largest scratch hal::matmul needs for up to `n` activation rows against
// any weight of `m` (its two paths, streaming and tiled, are both covered).
size_t max_quant_row_bytes(const Model& m, const hal::Kernels& k, size_t n) {
  size_t best = 0;
  auto see = [&](const WeightTensor& w) {
    if (!w.data || w.rows <= 1) return;
    const int64_t few = std::min<int64_t>(int64_t(n), hal::kTileMinCols - 1);
    best = std::max({best, hal::matmul_scratch_bytes(k, view(w), int64_t(n)), hal::matmul_scratch_bytes(k, view(w), few)});
  };
  const Weights& w = m.weights();
  see(w.output);
  for (const LayerWeights& L : w.layers) {
    for (const WeightTensor* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) see(*t);
  }
  return best;
}

const hal::Kernels& kernels_of(const ContextParams& p) {
  if (p.kernels) return *p.kernels;
  auto best = hal::kernels_best();
  return best.ok() ? **best : hal::kernels_generic();
}

int threads_of(const ContextParams& p) { return p.pool ? p.pool->size() : 1; }

int32_t effective_ctx(const Model& m, const ContextParams& p) {
  if (p.n_ctx > 0) return p.n_ctx;
  return std::min(m.hparams().n_ctx_train, 2048);
}

}  // namespace

MemoryPlan Context::plan(const Model& m, const ContextParams& p) {
  const Hparams& hp = m.hparams();
  const hal::Kernels& k = kernels_of(p);
  const size_t ctx = size_t(effective_ctx(m, p));
  const size_t B = size_t(std::max(1, std::min<int32_t>(p.n_batch, int32_t(ctx))));
  const size_t f = sizeof(float);
  MemoryPlan plan;
  plan.add("weights", m.weight_bytes(), RegionKind::kMapped, m.file().path());
  char detail[128];
  std::snprintf(detail, sizeof detail, "%zu positions x %d layers x %d kv dims, f16", ctx, hp.n_layer, hp.kv_dim());
  plan.add("kv cache", 2 * size_t(hp.n_layer) * ctx * size_t(hp.kv_dim()) * sizeof(uint16_t), RegionKind::kResident,
           detail);
  std::snprintf(detail, sizeof detail, "batch %zu", B);
  size_t acts = B * f * (3 * size_t(hp.dim) + 2 * size_t(hp.q_dim()) + 2 * size_t(hp.kv_dim()) + 2 * size_t(hp.n_ff));
  plan.add("activations", acts, RegionKind::kResident, detail);
  plan.add("quantized activations", max_quant_row_bytes(m, k, B));
  plan.add("attention scratch", size_t(threads_of(p)) * align_up(hal::attention_scratch_bytes(int64_t(ctx), hp.head_dim), 64));
  size_t logit_rows = p.logits_all ? B : 1;
  std::snprintf(detail, sizeof detail, "%zu x %d", logit_rows, hp.n_vocab);
  plan.add("logits", logit_rows * size_t(hp.n_vocab) * f, RegionKind::kResident, detail);
  return plan;
}

Context::Context(const Model& m, const ContextParams& p)
    : model_(m), hp_(m.hparams()), k_(kernels_of(p)), params_(p) {}

Result<std::unique_ptr<Context>> Context::create(const Model& m, const ContextParams& p) {
  const int32_t ctx = effective_ctx(m, p);
  if (ctx < 1 || ctx > (1 << 20)) {
    return errorf(Error::kRequestOutOfRange, "context length %d is out of range (1..1048576)", ctx);
  }
  if (p.n_batch < 1) return errorf(Error::kRequestOutOfRange, "batch size %d must be >= 1", p.n_batch);
  auto c = std::unique_ptr<Context>(new Context(m, p));
  c->n_ctx_ = ctx;
  c->n_batch_ = std::min(p.n_batch, ctx);
  MemoryPlan plan = Context::plan(m, p);
  c->arena_ = AIRT_TRY(Arena::reserve(plan.arena_bytes(), p.mlock));
  AIRT_TRY(c->carve());
  return c;
}

Status Context::carve() {
  const size_t B = size_t(n_batch_);
  Arena& a = arena_;
  kv_layer_elems_ = size_t(n_ctx_) * size_t(hp_.kv_dim());
  kv_ = a.alloc_array<uint16_t>(2 * size_t(hp_.n_layer) * kv_layer_elems_).data();
  x_ = a.alloc_array<float>(B * hp_.dim).data();
  xn_ = a.alloc_array<float>(B * hp_.dim).data();
  tmp_ = a.alloc_array<float>(B * hp_.dim).data();
  q_ = a.alloc_array<float>(B * hp_.q_dim()).data();
  att_ = a.alloc_array<float>(B * hp_.q_dim()).data();
  kcur_ = a.alloc_array<float>(B * hp_.kv_dim()).data();
  vcur_ = a.alloc_array<float>(B * hp_.kv_dim()).data();
  gate_ = a.alloc_array<float>(B * hp_.n_ff).data();
  up_ = a.alloc_array<float>(B * hp_.n_ff).data();
  xq_ = a.alloc(max_quant_row_bytes(model_, k_, B));
  const size_t nth = size_t(threads_of(params_));
  attn_scratch_floats_ = align_up(hal::attention_scratch_bytes(n_ctx_, hp_.head_dim), 64) / sizeof(float);
  scores_ = a.alloc_array<float>(nth * attn_scratch_floats_).data();
  logits_ = a.alloc_array<float>((params_.logits_all ? B : 1) * size_t(hp_.n_vocab)).data();
  if (!kv_ || !x_ || !logits_ || !scores_) {
    return errorf(Error::kInternal, "context: arena of %zu bytes too small for its own plan (used %zu)",
                  a.capacity(), a.used());
  }
  return {};
}

void Context::matmul(const WeightTensor& w, const float* x, int32_t n, float* out) {
  hal::matmul(params_.pool, k_, view(w), x, n, out, w.rows, xq_);
}

Status Context::eval(std::span<const int32_t> tokens) {
  const int32_t n = int32_t(tokens.size());
  if (n < 1 || n > n_batch_) {
    return errorf(Error::kRequestOutOfRange, "eval: %d tokens, must be 1..%d (the batch size)", n, n_batch_);
  }
  if (n_past_ + n > n_ctx_) {
    return errorf(Error::kRequestTooLarge, "eval: %d cached + %d new positions exceed the context of %d", n_past_, n,
                  n_ctx_);
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= hp_.n_vocab) {
      return errorf(Error::kRequestInvalid, "eval: token id %d is outside the vocabulary (0..%d)", t, hp_.n_vocab - 1);
    }
  }
  const int32_t pos0 = n_past_;
  const WeightTensor& embd = model_.weights().token_embd;
  const hal::TypeKernels& ek = k_.of(embd.type);
  for (int32_t i = 0; i < n; ++i) {
    ek.to_float(static_cast<const uint8_t*>(embd.data) + size_t(tokens[i]) * embd.row_bytes, x_ + size_t(i) * hp_.dim,
                hp_.dim);
  }
  for (int l = 0; l < hp_.n_layer; ++l) layer(l, n, pos0);

  const Weights& w = model_.weights();
  const int32_t first = params_.logits_all ? 0 : n - 1;
  n_logits_ = n - first;
  for (int32_t i = first; i < n; ++i) {
    k_.rms_norm(x_ + size_t(i) * hp_.dim, static_cast<const float*>(w.output_norm.data),
                xn_ + size_t(i - first) * hp_.dim, hp_.dim, hp_.rms_eps);
  }
  matmul(w.output, xn_, n_logits_, logits_);
  n_past_ += n;
  return {};
}

std::span<const float> Context::logits(int32_t i) const {
  if (i < 0) i = n_logits_ - 1;
  return {logits_ + size_t(i) * hp_.n_vocab, size_t(hp_.n_vocab)};
}

void Context::layer(int l, int32_t n, int32_t pos0) {
  const LayerWeights& L = model_.weights().layers[size_t(l)];
  const int32_t dim = hp_.dim, qd = hp_.q_dim(), kvd = hp_.kv_dim(), ff = hp_.n_ff;
  const bool neox = hp_.rope_mode == models::RopeMode::kNeox;

  for (int32_t i = 0; i < n; ++i)
    k_.rms_norm(x_ + size_t(i) * dim, static_cast<const float*>(L.attn_norm.data), xn_ + size_t(i) * dim, dim,
                hp_.rms_eps);
  matmul(L.wq, xn_, n, q_);
  matmul(L.wk, xn_, n, kcur_);
  matmul(L.wv, xn_, n, vcur_);
  for (int32_t i = 0; i < n; ++i) {
    if (L.bq.data) k_.axpy(qd, 1.0f, static_cast<const float*>(L.bq.data), q_ + size_t(i) * qd);
    if (L.bk.data) k_.axpy(kvd, 1.0f, static_cast<const float*>(L.bk.data), kcur_ + size_t(i) * kvd);
    if (L.bv.data) k_.axpy(kvd, 1.0f, static_cast<const float*>(L.bv.data), vcur_ + size_t(i) * kvd);
    const int64_t pos = pos0 + i;
    for (int h = 0; h < hp_.n_head; ++h)
      k_.rope(q_ + size_t(i) * qd + size_t(h) * hp_.head_dim, hp_.head_dim, hp_.n_rot, pos, hp_.rope_base,
              hp_.rope_scale, neox);
    for (int h = 0; h < hp_.n_head_kv; ++h)
      k_.rope(kcur_ + size_t(i) * kvd + size_t(h) * hp_.head_dim, hp_.head_dim, hp_.n_rot, pos, hp_.rope_base,
              hp_.rope_scale, neox);
  }
  // Append this batch's K and V to the cache (f16, as the reference keeps it).
  uint16_t* kc = kv_ + size_t(2 * l) * kv_layer_elems_;
  uint16_t* vc = kv_ + size_t(2 * l + 1) * kv_layer_elems_;
  for (int32_t i = 0; i < n; ++i) {
    k_.f32_to_f16(kcur_ + size_t(i) * kvd, kc + size_t(pos0 + i) * kvd, kvd);
    k_.f32_to_f16(vcur_ + size_t(i) * kvd, vc + size_t(pos0 + i) * kvd, kvd);
  }
  attention(l, n, pos0);
  matmul(L.wo, att_, n, tmp_);
  for (int32_t i = 0; i < n; ++i) k_.axpy(dim, 1.0f, tmp_ + size_t(i) * dim, x_ + size_t(i) * dim);

  for (int32_t i = 0; i < n; ++i)
    k_.rms_norm(x_ + size_t(i) * dim, static_cast<const float*>(L.ffn_norm.data), xn_ + size_t(i) * dim, dim,
                hp_.rms_eps);
  matmul(L.w_gate, xn_, n, gate_);
  matmul(L.w_up, xn_, n, up_);
  for (int32_t i = 0; i < n; ++i) k_.silu_mul(gate_ + size_t(i) * ff, up_ + size_t(i) * ff, gate_ + size_t(i) * ff, ff);
  matmul(L.w_down, gate_, n, tmp_);
  for (int32_t i = 0; i < n; ++i) k_.axpy(dim, 1.0f, tmp_ + size_t(i) * dim, x_ + size_t(i) * dim);
}

void Context::attention(int l, int32_t n, int32_t pos0) {
  const int32_t hd = hp_.head_dim, qd = hp_.q_dim(), kvd = hp_.kv_dim();
  const int32_t group = hp_.n_head / hp_.n_head_kv;
  const float scale = 1.0f / std::sqrt(float(hd));
  const uint16_t* kc = kv_ + size_t(2 * l) * kv_layer_elems_;
  const uint16_t* vc = kv_ + size_t(2 * l + 1) * kv_layer_elems_;
  // One kernel call takes up to kAttnMaxRows (token, head) rows of one KV group: all of a
  // group's heads for as many consecutive tokens as fit. Threads split the calls.
  const int32_t heads_per_call = std::min(group, hal::kAttnMaxRows);
  const int32_t tokens_per_call = std::max(1, hal::kAttnMaxRows / heads_per_call);
  const int32_t head_chunks = (group + heads_per_call - 1) / heads_per_call;
  const int32_t token_chunks = (n + tokens_per_call - 1) / tokens_per_call;
  const int64_t calls = int64_t(token_chunks) * hp_.n_head_kv * head_chunks;
  auto work = [&](int ith, int nth) {
    int64_t c0, c1;
    hal::split_range(calls, ith, nth, 1, c0, c1);
    void* scratch = scores_ + size_t(ith) * attn_scratch_floats_;
    for (int64_t c = c0; c < c1; ++c) {
      const int32_t hc = int32_t(c % head_chunks);
      const int32_t g = int32_t(c / head_chunks % hp_.n_head_kv);
      const int32_t t0 = int32_t(c / head_chunks / hp_.n_head_kv) * tokens_per_call;
      const float* qrows[hal::kAttnMaxRows];
      float* orows[hal::kAttnMaxRows];
      int32_t n_kv[hal::kAttnMaxRows];
      int nq = 0;
      for (int32_t i = t0; i < std::min(n, t0 + tokens_per_call); ++i) {
        for (int32_t h = g * group + hc * heads_per_call; h < std::min(g * group + (hc + 1) * heads_per_call, (g + 1) * group); ++h) {
          qrows[nq] = q_ + size_t(i) * qd + size_t(h) * hd;
          orows[nq] = att_ + size_t(i) * qd + size_t(h) * hd;
          n_kv[nq] = pos0 + i + 1;  // causal: this token sees positions 0..pos0+i
          ++nq;
        }
      }
      k_.attention(nq, hd, qrows, n_kv, kc + size_t(g) * hd, vc + size_t(g) * hd, size_t(kvd), scale, orows, scratch);
    }
  };
  if (params_.pool) {
    params_.pool->parallel(work);
  } else {
    work(0, 1);
  }
}

}  // namespace airt::model
