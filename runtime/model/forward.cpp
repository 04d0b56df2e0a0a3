#include "runtime/model/forward.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "hal/cpu/matmul.h"
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

hal::MatrixView view(const WeightTensor& w) { return {w.data, w.type, w.cols, w.rows, w.row_bytes}; }

// Scratch hal::matmul needs for up to n rows against w: both of its paths (streaming for
// a few rows, tiled for more) are covered, so any batch size fits.
size_t xq_bytes(const hal::Kernels& k, const WeightTensor& w, size_t n) {
  if (!w.data) return 0;
  const int64_t few = std::min<int64_t>(int64_t(n), hal::kTileMinCols - 1);
  return std::max(hal::matmul_scratch_bytes(k, view(w), int64_t(n)), hal::matmul_scratch_bytes(k, view(w), few));
}

size_t attn_scratch_stride(const Hparams& hp, const ForwardParams& p) {
  const size_t group = size_t(hp.n_head / hp.n_head_kv), hd = size_t(hp.head_dim);
  return align_up(group * size_t(p.max_visible) * sizeof(float), 64) + align_up(group * hd * sizeof(uint16_t), 64) +
         2 * align_up((hd + 64) * sizeof(float), 64);
}

// Sizes and places every activation buffer; returns the region's bytes.
size_t layout(const Model& m, const hal::Kernels& k, const ForwardParams& p, BufferUse (&bufs)[kBufCount]) {
  const Hparams& hp = m.hparams();
  const size_t R = size_t(p.n_rows), L = size_t(p.n_logits), f = sizeof(float);
  size_t xq[4] = {0, 0, 0, 0};  // qkv, o, gate/up, down
  for (const LayerWeights& lw : m.weights().layers) {
    xq[0] = std::max({xq[0], xq_bytes(k, lw.wq, R), xq_bytes(k, lw.wk, R), xq_bytes(k, lw.wv, R)});
    xq[1] = std::max(xq[1], xq_bytes(k, lw.wo, R));
    xq[2] = std::max({xq[2], xq_bytes(k, lw.w_gate, R), xq_bytes(k, lw.w_up, R)});
    xq[3] = std::max(xq[3], xq_bytes(k, lw.w_down, R));
  }
  const size_t dim = size_t(hp.dim), qd = size_t(hp.q_dim()), kvd = size_t(hp.kv_dim()), ff = size_t(hp.n_ff);
  const size_t bytes[kBufCount] = {
      R * dim * f, R * dim * f, R * qd * f, R * kvd * f, R * kvd * f, xq[0], R * qd * f,
      size_t(std::max(1, p.n_threads)) * attn_scratch_stride(hp, p), xq[1], R * dim * f, R * dim * f, xq[2],
      R * ff * f, R * ff * f, xq[3], R * dim * f, L * dim * f, xq_bytes(k, m.weights().output, L),
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
  std::snprintf(detail, sizeof detail, "%d x %d", p.n_logits, m.hparams().n_vocab);
  plan.add("logits", size_t(p.n_logits) * size_t(m.hparams().n_vocab) * sizeof(float), RegionKind::kResident, detail);
}

Status Forward::carve(Arena& arena, const ForwardParams& p) {
  if (p.n_rows < 1 || p.n_logits < 1 || p.n_logits > p.n_rows || p.n_threads < 1 || p.max_visible < 1) {
    return errorf(Error::kRequestOutOfRange, "forward: rows %d, logits %d, threads %d, visible %d out of range",
                  p.n_rows, p.n_logits, p.n_threads, p.max_visible);
  }
  p_ = p;
  k_ = &kernels_of(p);
  BufferUse bufs[kBufCount];
  size_t region = layout(model_, *k_, p, bufs);
  auto* base = static_cast<uint8_t*>(arena.alloc(region));
  logits_ = arena.alloc_array<float>(size_t(p.n_logits) * size_t(hp_.n_vocab)).data();
  if (!base || !logits_) {
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
  attn_stride_ = attn_scratch_stride(hp_, p);
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

void Forward::eval(const Batch& b, KvCache& kv, hal::ThreadPool* pool) {
  const int32_t n = int32_t(b.token.size());
  AIRT_DCHECK(n >= 1 && n <= p_.n_rows && int32_t(b.logits.size()) <= p_.n_logits);
  AIRT_DCHECK(!pool || pool->size() <= p_.n_threads);
  const Weights& w = model_.weights();
  const hal::TypeKernels& ek = k_->of(w.token_embd.type);
  for (int32_t i = 0; i < n; ++i) {
    ek.to_float(static_cast<const uint8_t*>(w.token_embd.data) + size_t(b.token[i]) * w.token_embd.row_bytes,
                x_ + size_t(i) * size_t(hp_.dim), hp_.dim);
  }
  for (int l = 0; l < hp_.n_layer; ++l) layer(l, b, kv, pool);
  const int32_t nl = int32_t(b.logits.size());
  for (int32_t i = 0; i < nl; ++i) {
    k_->rms_norm(x_ + size_t(b.logits[i]) * size_t(hp_.dim), static_cast<const float*>(w.output_norm.data),
                 xo_ + size_t(i) * size_t(hp_.dim), hp_.dim, hp_.rms_eps);
  }
  if (nl > 0) matmul(pool, w.output, xo_, nl, logits_, xq_out_);
}

void Forward::layer(int l, const Batch& b, KvCache& kv, hal::ThreadPool* pool) {
  const LayerWeights& L = model_.weights().layers[size_t(l)];
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
    // Store this position's K and V in its block, at the block's precision.
    const KvBlockRef& blk = kv.block_of(b.seq[i], b.pos[i]);
    const size_t slot = size_t(b.pos[i] - blk.pos0);
    uint8_t* kd = kv.k_rows(blk.id, l) + slot * kv.k_row_bytes(blk.id);
    uint8_t* vd = kv.v_rows(blk.id, l) + slot * kv.v_row_bytes(blk.id);
    if (kv.k_type(blk.id) == hal::DType::kF16) k.f32_to_f16(ki, reinterpret_cast<uint16_t*>(kd), int64_t(kvd));
    else k.of(kv.k_type(blk.id)).from_float(ki, kd, int64_t(kvd));
    if (kv.v_type(blk.id) == hal::DType::kF16) k.f32_to_f16(vi, reinterpret_cast<uint16_t*>(vd), int64_t(kvd));
    else k.of(kv.v_type(blk.id)).from_float(vi, vd, int64_t(kvd));
  }

  const int32_t items = n * hp_.n_head_kv;
  if (!pool || pool->size() == 1) {
    for (int32_t it = 0; it < items; ++it) attend(l, b, kv, it, 0);
  } else {
    auto work = [&](int ith, int nth) {
      int64_t i0, i1;
      hal::split_range(items, ith, nth, 1, i0, i1);
      for (int64_t it = i0; it < i1; ++it) attend(l, b, kv, int32_t(it), ith);
    };
    pool->parallel(work);
  }

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

namespace {

// Values [e0, e0+n) of one K or V row of type t as f32. Quantized rows decode whole
// blocks, so `tmp` holds n + 64 floats; the result points into tmp.
const float* row_segment(const hal::Kernels& k, hal::DType t, const uint8_t* row, int64_t e0, int64_t n, float* tmp) {
  if (t == hal::DType::kF16) {
    k.f16_to_f32(reinterpret_cast<const uint16_t*>(row) + e0, tmp, n);
    return tmp;
  }
  const hal::DTypeInfo& di = hal::dtype_info(t);
  const int64_t b0 = e0 / di.block_size, b1 = (e0 + n + di.block_size - 1) / di.block_size;
  k.of(t).to_float(row + size_t(b0) * di.block_bytes, tmp, (b1 - b0) * di.block_size);
  return tmp + (e0 - b0 * di.block_size);
}

}  // namespace

// Attention of one row for the query heads sharing KV head g (item = row * n_head_kv + g):
// scores over the visible positions of the row's sequence, softmax, weighted sum of V.
// f16 keys are dotted with the query rounded to f16 (as the reference implementation
// does); quantized keys are decoded to f32 first.
void Forward::attend(int l, const Batch& b, const KvCache& kv, int32_t item, int ith) {
  const hal::Kernels& k = *k_;
  const int32_t row = item / hp_.n_head_kv, g = item % hp_.n_head_kv;
  const int32_t hd = hp_.head_dim, group = hp_.n_head / hp_.n_head_kv;
  const int32_t s = b.seq[row], p = b.pos[row];
  const float scale = 1.0f / std::sqrt(float(hd));
  const size_t maxv = size_t(p_.max_visible);
  uint8_t* scratch = attn_ + size_t(ith) * attn_stride_;
  float* scores = reinterpret_cast<float*>(scratch);  // (group, max_visible)
  auto* q16 = reinterpret_cast<uint16_t*>(scratch + align_up(size_t(group) * maxv * sizeof(float), 64));
  float* seg = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(q16) +
                                        align_up(size_t(group) * size_t(hd) * sizeof(uint16_t), 64));
  const float* qrow = q_ + size_t(row) * size_t(hp_.q_dim()) + size_t(g) * size_t(group) * size_t(hd);
  for (int t = 0; t < group; ++t) k.f32_to_f16(qrow + size_t(t) * size_t(hd), q16 + size_t(t) * size_t(hd), hd);
  const hal::TypeKernels& f16 = k.of(hal::DType::kF16);
  const hal::TypeKernels& f32 = k.of(hal::DType::kF32);
  const int64_t e0 = int64_t(g) * hd;

  size_t nv = 0;
  for (const KvBlockRef& blk : kv.seq_blocks(s)) {
    if (blk.pos0 > p) break;
    const hal::DType kt = kv.k_type(blk.id);
    const size_t rb = kv.k_row_bytes(blk.id);
    const uint8_t* rows = kv.k_rows(blk.id, l);
    const int32_t end = std::min(blk.pos0 + kv.block(), p + 1);
    for (int32_t j = blk.pos0; j < end; ++j) {
      if (!kv.visible(s, p, j)) continue;
      const uint8_t* kr = rows + size_t(j - blk.pos0) * rb;
      if (kt == hal::DType::kF16) {
        const uint16_t* kh = reinterpret_cast<const uint16_t*>(kr) + e0;
        for (int t = 0; t < group; ++t) {
          float d;
          f16.vec_dot(hd, &d, kh, q16 + size_t(t) * size_t(hd));
          scores[size_t(t) * maxv + nv] = d * scale;
        }
      } else {
        const float* kf = row_segment(k, kt, kr, e0, hd, seg);
        for (int t = 0; t < group; ++t) {
          float d;
          f32.vec_dot(hd, &d, kf, qrow + size_t(t) * size_t(hd));
          scores[size_t(t) * maxv + nv] = d * scale;
        }
      }
      ++nv;
    }
  }
  AIRT_DCHECK(nv >= 1 && nv <= maxv);
  for (int t = 0; t < group; ++t) k.softmax(scores + size_t(t) * maxv, int64_t(nv));
  float* out = att_ + size_t(row) * size_t(hp_.q_dim()) + size_t(g) * size_t(group) * size_t(hd);
  std::memset(out, 0, sizeof(float) * size_t(group) * size_t(hd));
  float* vseg = seg + hd + 64;
  size_t jj = 0;
  for (const KvBlockRef& blk : kv.seq_blocks(s)) {
    if (blk.pos0 > p) break;
    const hal::DType vt = kv.v_type(blk.id);
    const size_t rb = kv.v_row_bytes(blk.id);
    const uint8_t* rows = kv.v_rows(blk.id, l);
    const int32_t end = std::min(blk.pos0 + kv.block(), p + 1);
    for (int32_t j = blk.pos0; j < end; ++j) {
      if (!kv.visible(s, p, j)) continue;
      const float* vf = row_segment(k, vt, rows + size_t(j - blk.pos0) * rb, e0, hd, vseg);
      for (int t = 0; t < group; ++t) k.axpy(hd, scores[size_t(t) * maxv + jj], vf, out + size_t(t) * size_t(hd));
      ++jj;
    }
  }
}

}  // namespace airt::model
