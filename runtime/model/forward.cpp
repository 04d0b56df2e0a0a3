#include "runtime/model/forward.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "hal/cpu/matmul.h"
#include "hal/cpu/packed.h"
#include "runtime/model/buffer_plan.h"

namespace airt::model {
namespace {

// Buffers of one pass, in the order of the steps below.
enum Buf { kX, kXnA, kQ, kK, kV, kXqQkv, kAtt, kAttnScratch, kXqO, kTmpA, kXnF, kXqGu, kGate, kUp, kXqDown,
           kTmpF, kXo, kXqOut, kBufCount };

// Steps: 0 embed, 1 attn norm, 2 q/k/v products, 3 rope + KV store, 4 attention, 5 wo,
// 6 residual, 7 ffn norm, 8 gate/up, 9 silu, 10 down, 11 residual, 12 final norm,
// 13 output product. Every layer repeats steps 1..11 with the same placement, so only
// the residual stream x lives across layers.
struct Life {
  int32_t first, last;
};
constexpr Life kLife[kBufCount] = {
    {0, 13}, {1, 2}, {2, 4}, {2, 3}, {2, 3}, {2, 2}, {4, 5}, {4, 4}, {5, 5},
    {5, 6}, {7, 8}, {8, 8}, {8, 10}, {8, 9}, {10, 10}, {10, 11}, {12, 13}, {13, 13},
};

hal::MatrixView view(const WeightTensor& w) { return {w.data, w.type, w.cols, w.rows, w.row_bytes, w.packed}; }

// Scratch hal::matmul needs for up to n rows against w: both of its paths (streaming for
// a few rows, tiled for more) are covered, so any batch size fits, and so is the packed
// path where the kernels would take a repacked copy of w (the engine's choice).
size_t xq_bytes(const hal::Kernels& k, const WeightTensor& w, size_t n) {
  if (!w.data) return 0;
  const int64_t few = std::min<int64_t>(int64_t(n), hal::kTileMinCols - 1);
  hal::MatrixView v = view(w);
  size_t bytes = std::max(hal::matmul_scratch_bytes(k, v, int64_t(n)), hal::matmul_scratch_bytes(k, v, few));
  if (k.of(w.type).packed_pays && hal::packable(w.type, w.rows, w.cols)) {
    v.packed = true;
    bytes = std::max(bytes, hal::matmul_scratch_bytes(k, v, int64_t(n)));
  }
  return bytes;
}

// The layers p runs, resolved against the model.
LayerRange range_of(const Hparams& hp, const ForwardParams& p) {
  return {p.layers.begin, p.layers.end < 0 ? hp.n_layer : p.layers.end};
}

bool has_head(const Hparams& hp, const ForwardParams& p) { return range_of(hp, p).end == hp.n_layer; }

// Sizes and places every activation buffer; returns the region's bytes.
size_t layout(const Model& m, const hal::Kernels& k, const ForwardParams& p, BufferUse (&bufs)[kBufCount]) {
  const Hparams& hp = m.hparams();
  const LayerRange r = range_of(hp, p);
  // A pass that stops before the last layer keeps no logits: no final norm, no output product.
  const size_t R = size_t(p.n_rows), L = has_head(hp, p) ? size_t(p.n_logits) : 0, f = sizeof(float);
  size_t xq[5] = {0, 0, 0, 0, 0};  // qkv, o, gate/up, down, output: the largest over every tier
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    const Weights& w = m.tier(t).weights;
    for (int32_t l = r.begin; l < r.end; ++l) {
      const LayerWeights& lw = w.layers[size_t(l)];
      xq[0] = std::max({xq[0], xq_bytes(k, lw.wq, R), xq_bytes(k, lw.wk, R), xq_bytes(k, lw.wv, R)});
      xq[1] = std::max(xq[1], xq_bytes(k, lw.wo, R));
      xq[2] = std::max({xq[2], xq_bytes(k, lw.w_gate, R), xq_bytes(k, lw.w_up, R)});
      xq[3] = std::max(xq[3], xq_bytes(k, lw.w_down, R));
    }
    if (L > 0) xq[4] = std::max(xq[4], xq_bytes(k, w.output, L));
  }
  const size_t dim = size_t(hp.dim), qd = size_t(hp.q_dim()), kvd = size_t(hp.kv_dim()), ff = size_t(hp.n_ff);
  const size_t bytes[kBufCount] = {
      R * dim * f, R * dim * f, R * qd * f, R * kvd * f, R * kvd * f, xq[0], R * qd * f,
      // per-thread attention scratch, then the layer's row runs (two int32 per row)
      size_t(std::max(1, p.n_threads)) * Forward::attention_scratch(hp, p) + R * sizeof(int32_t) * 2,
      xq[1], R * dim * f, R * dim * f, xq[2],
      R * ff * f, R * ff * f, xq[3], R * dim * f, L * dim * f, xq[4],
  };
  for (int i = 0; i < kBufCount; ++i) bufs[i] = {bytes[i], kLife[i].first, kLife[i].last, 0};
  return buffer_plan_place(bufs, Arena::kDefaultAlign);
}

const hal::Kernels& kernels_of(const ForwardParams& p) { return p.kernels ? *p.kernels : hal::kernels_generic(); }

}  // namespace

void Forward::plan(const Model& m, const ForwardParams& p, MemoryPlan& plan) {
  BufferUse bufs[kBufCount];
  size_t region = layout(m, kernels_of(p), p, bufs);
  size_t sum = 0;
  for (const BufferUse& b : bufs) sum += align_up(b.bytes, Arena::kDefaultAlign);
  char detail[160];
  std::snprintf(detail, sizeof detail, "%d rows, %d threads; placed by lifetime (sum of buffers %s)", p.n_rows,
                p.n_threads, format_bytes(sum).c_str());
  plan.add("activations", region, RegionKind::kResident, detail);
  if (!has_head(m.hparams(), p)) return;  // the split pass's next part keeps the logits
  std::snprintf(detail, sizeof detail, "%d x %d", p.n_logits, m.hparams().n_vocab);
  plan.add("logits", size_t(p.n_logits) * size_t(m.hparams().n_vocab) * sizeof(float), RegionKind::kResident, detail);
}

Status Forward::carve(Arena& arena, const ForwardParams& p) {
  if (p.n_rows < 1 || p.n_logits < 1 || p.n_logits > p.n_rows || p.n_threads < 1 || p.max_visible < 1) {
    return errorf(Error::kRequestOutOfRange, "forward: rows %d, logits %d, threads %d, visible %d out of range",
                  p.n_rows, p.n_logits, p.n_threads, p.max_visible);
  }
  const LayerRange r = range_of(hp_, p);
  if (r.begin < 0 || r.begin >= r.end || r.end > hp_.n_layer) {
    return errorf(Error::kInternal, "forward: layers %d..%d of a %d-layer model", r.begin, r.end, hp_.n_layer);
  }
  p_ = p;
  k_ = &kernels_of(p);
  BufferUse bufs[kBufCount];
  size_t region = layout(model_, *k_, p, bufs);
  auto* base = static_cast<uint8_t*>(arena.alloc(region));
  const bool head = has_head(hp_, p);
  if (head) logits_ = arena.alloc_array<float>(size_t(p.n_logits) * size_t(hp_.n_vocab)).data();
  if (!base || (head && !logits_)) {
    return errorf(Error::kInternal, "forward: the arena (%zu of %zu bytes used) is smaller than its plan",
                  arena.used(), arena.capacity());
  }
  auto at = [&](Buf b) { return base + bufs[b].offset; };
  x_ = reinterpret_cast<float*>(at(kX));
  xn_a_ = reinterpret_cast<float*>(at(kXnA));
  q_ = reinterpret_cast<float*>(at(kQ));
  kcur_ = reinterpret_cast<float*>(at(kK));
  vcur_ = reinterpret_cast<float*>(at(kV));
  xq_qkv_ = at(kXqQkv);
  att_ = reinterpret_cast<float*>(at(kAtt));
  attn_ = at(kAttnScratch);
  attn_stride_ = attention_scratch(hp_, p);
  runs_ = reinterpret_cast<RowRun*>(attn_ + size_t(p.n_threads) * attn_stride_);
  xq_o_ = at(kXqO);
  tmp_a_ = reinterpret_cast<float*>(at(kTmpA));
  xn_f_ = reinterpret_cast<float*>(at(kXnF));
  xq_gu_ = at(kXqGu);
  gate_ = reinterpret_cast<float*>(at(kGate));
  up_ = reinterpret_cast<float*>(at(kUp));
  xq_down_ = at(kXqDown);
  tmp_f_ = reinterpret_cast<float*>(at(kTmpF));
  xo_ = reinterpret_cast<float*>(at(kXo));
  xq_out_ = at(kXqOut);
  return {};
}

// out (n x w.rows) = x (n x w.cols) · Wᵀ on the pool (hal/cpu/matmul.h).
void Forward::matmul(hal::ThreadPool* pool, const WeightTensor& w, const float* x, int32_t n, float* out, void* xq) {
  hal::matmul(pool, *k_, view(w), x, n, out, w.rows, xq);
}

void Forward::eval(const Batch& b, const KvCache& kv, hal::ThreadPool* pool) {
  const int32_t n = int32_t(b.token.size());
  AIRT_DCHECK(n >= 1 && n <= p_.n_rows && int32_t(b.logits.size()) <= p_.n_logits);
  AIRT_DCHECK(!pool || pool->size() <= p_.n_threads);
  const Weights& w = *w_;
  const LayerRange r = range_of(hp_, p_);
  if (r.begin == 0) {  // else x_ holds the residual stream the caller handed over
    const hal::TypeKernels& ek = k_->of(w.token_embd.type);
    for (int32_t i = 0; i < n; ++i) {
      ek.to_float(static_cast<const uint8_t*>(w.token_embd.data) + size_t(b.token[i]) * w.token_embd.row_bytes,
                  x_ + size_t(i) * size_t(hp_.dim), hp_.dim);
    }
  }
  for (int l = r.begin; l < r.end; ++l)
    if (!((p_.skip[size_t(l) / 64] >> (l % 64)) & 1)) layer(l, b, kv, pool);
  if (r.end == hp_.n_layer) head(b, pool);
}

// The final norm of the kept rows and the output product.
void Forward::head(const Batch& b, hal::ThreadPool* pool) {
  const Weights& w = *w_;
  const int32_t nl = int32_t(b.logits.size());
  for (int32_t i = 0; i < nl; ++i) {
    k_->rms_norm(x_ + size_t(b.logits[i]) * size_t(hp_.dim), static_cast<const float*>(w.output_norm.data),
                 xo_ + size_t(i) * size_t(hp_.dim), hp_.dim, hp_.rms_eps);
  }
  if (nl > 0) matmul(pool, w.output, xo_, nl, logits_, xq_out_);
}

void Forward::layer(int l, const Batch& b, const KvCache& kv, hal::ThreadPool* pool) {
  const LayerWeights& L = w_->layers[size_t(l)];
  const int32_t n = int32_t(b.token.size());
  const size_t dim = size_t(hp_.dim), qd = size_t(hp_.q_dim()), kvd = size_t(hp_.kv_dim()), ff = size_t(hp_.n_ff);
  const bool neox = hp_.rope_mode == models::RopeMode::kNeox;
  const hal::Kernels& k = *k_;

  for (int32_t i = 0; i < n; ++i)
    k.rms_norm(x_ + i * dim, static_cast<const float*>(L.attn_norm.data), xn_a_ + i * dim, hp_.dim, hp_.rms_eps);
  matmul(pool, L.wq, xn_a_, n, q_, xq_qkv_);
  matmul(pool, L.wk, xn_a_, n, kcur_, xq_qkv_);
  matmul(pool, L.wv, xn_a_, n, vcur_, xq_qkv_);
  for (int32_t i = 0; i < n; ++i) {
    float* qi = q_ + i * qd;
    float* ki = kcur_ + i * kvd;
    float* vi = vcur_ + i * kvd;
    if (L.bq.data) k.axpy(int64_t(qd), 1.0f, static_cast<const float*>(L.bq.data), qi);
    if (L.bk.data) k.axpy(int64_t(kvd), 1.0f, static_cast<const float*>(L.bk.data), ki);
    if (L.bv.data) k.axpy(int64_t(kvd), 1.0f, static_cast<const float*>(L.bv.data), vi);
    const int64_t pos = b.pos[i];
    for (int h = 0; h < hp_.n_head; ++h)
      k.rope(qi + size_t(h) * size_t(hp_.head_dim), hp_.head_dim, hp_.n_rot, pos, hp_.rope_base, hp_.rope_scale, neox);
    for (int h = 0; h < hp_.n_head_kv; ++h)
      k.rope(ki + size_t(h) * size_t(hp_.head_dim), hp_.head_dim, hp_.n_rot, pos, hp_.rope_base, hp_.rope_scale, neox);
  }
  store_kv(l, b, kv);

  attention(l, b, kv, pool);

  matmul(pool, L.wo, att_, n, tmp_a_, xq_o_);
  for (int32_t i = 0; i < n; ++i) k.axpy(int64_t(dim), 1.0f, tmp_a_ + i * dim, x_ + i * dim);

  for (int32_t i = 0; i < n; ++i)
    k.rms_norm(x_ + i * dim, static_cast<const float*>(L.ffn_norm.data), xn_f_ + i * dim, hp_.dim, hp_.rms_eps);
  matmul(pool, L.w_gate, xn_f_, n, gate_, xq_gu_);
  matmul(pool, L.w_up, xn_f_, n, up_, xq_gu_);
  for (int32_t i = 0; i < n; ++i) k.silu_mul(gate_ + i * ff, up_ + i * ff, gate_ + i * ff, int64_t(ff));
  matmul(pool, L.w_down, gate_, n, tmp_f_, xq_down_);
  for (int32_t i = 0; i < n; ++i) k.axpy(int64_t(dim), 1.0f, tmp_f_ + i * dim, x_ + i * dim);
}

// Stores every row's K and V in its block, at the block's precision.
void Forward::store_kv(int l, const Batch& b, const KvCache& kv) {
  const hal::Kernels& k = *k_;
  const size_t kvd = size_t(hp_.kv_dim());
  for (size_t i = 0; i < b.token.size(); ++i) {
    const float* ki = kcur_ + i * kvd;
    const float* vi = vcur_ + i * kvd;
    const KvBlockRef& blk = kv.block_of(b.seq[i], b.pos[i]);
    const size_t slot = size_t(b.pos[i] - blk.pos0);
    uint8_t* kd = k_rows(kv, blk.id, l) + slot * kv.k_row_bytes(blk.id);
    uint8_t* vd = v_rows(kv, blk.id, l) + slot * kv.v_row_bytes(blk.id);
    if (kv.k_type(blk.id) == hal::DType::kF16) k.f32_to_f16(ki, reinterpret_cast<uint16_t*>(kd), int64_t(kvd));
    else k.of(kv.k_type(blk.id)).from_float(ki, kd, int64_t(kvd));
    if (kv.v_type(blk.id) == hal::DType::kF16) k.f32_to_f16(vi, reinterpret_cast<uint16_t*>(vd), int64_t(kvd));
    else k.of(kv.v_type(blk.id)).from_float(vi, vd, int64_t(kvd));
  }
}

}  // namespace airt::model
