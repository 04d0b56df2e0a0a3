// Attention of a batch over the paged KV cache (part of Forward, forward.h).
//
// Rows are grouped into runs: consecutive rows of one sequence (a prefill chunk), as
// many as fill one attention-kernel call together with the query heads of a KV group
// (kAttnMaxRows query rows), or a single row where the sequence has a sliding window
// (its rows see different sets of keys). One work item is (run, KV head, head split);
// the items are spread over the pool. For an f16 cache the item lists its visible key
// and value rows (the blocks of a sequence are not adjacent) and calls the table's
// attention kernel once (every table has one: generic, AVX2, AVX-512, NEON); a sequence
// holding quantized blocks takes the row-by-row path, which decodes keys and values with
// the table's own kernels.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/model/forward.h"

namespace airt::model {
namespace {

// Query heads of one KV group that share a kernel call, and rows per call.
int32_t heads_per_call(const Hparams& hp) { return std::min<int32_t>(hp.n_head / hp.n_head_kv, hal::kAttnMaxRows); }
int32_t rows_per_call(const Hparams& hp) { return std::max<int32_t>(1, hal::kAttnMaxRows / heads_per_call(hp)); }

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

// Layout of one thread's scratch: the kernel path's key/value row pointers and key
// positions, then the kernel's own scratch; the row path's scores, f16 query and decoded
// rows overlay the same bytes.
struct KernelScratch {
  size_t kptr, vptr, pos, kernel, bytes;
};
KernelScratch kernel_scratch(const Hparams& hp, const ForwardParams& p) {
  const size_t maxv = size_t(p.max_visible);
  KernelScratch s{};
  s.kptr = 0;
  s.vptr = align_up(maxv * sizeof(void*), 64);
  s.pos = s.vptr + align_up(maxv * sizeof(void*), 64);
  s.kernel = s.pos + align_up(maxv * sizeof(int32_t), 64);
  s.bytes = s.kernel + align_up(hal::attention_scratch_bytes(p.max_visible, hp.head_dim), 64);
  return s;
}
size_t row_scratch_bytes(const Hparams& hp, const ForwardParams& p) {
  const size_t group = size_t(hp.n_head / hp.n_head_kv), hd = size_t(hp.head_dim);
  return align_up(group * size_t(p.max_visible) * sizeof(float), 64) + align_up(group * hd * sizeof(uint16_t), 64) +
         2 * align_up((hd + 64) * sizeof(float), 64);
}

}  // namespace

size_t Forward::attention_scratch(const Hparams& hp, const ForwardParams& p) {
  return std::max(kernel_scratch(hp, p).bytes, row_scratch_bytes(hp, p));
}

int32_t Forward::attention_runs(const Batch& b, const KvCache& kv) {
  const int32_t n = int32_t(b.token.size()), per_call = rows_per_call(hp_);
  int32_t runs = 0;
  for (int32_t i = 0; i < n;) {
    const int32_t lim = kv.seq_window(b.seq[i]) > 0 ? 1 : per_call;
    int32_t j = i + 1;
    while (j < n && j - i < lim && b.seq[j] == b.seq[i]) ++j;
    runs_[runs++] = {i, j - i};
    i = j;
  }
  return runs;
}

void Forward::attention(int l, const Batch& b, const KvCache& kv, hal::ThreadPool* pool) {
  const int32_t runs = attention_runs(b, kv);
  const int32_t splits = (hp_.n_head / hp_.n_head_kv + heads_per_call(hp_) - 1) / heads_per_call(hp_);
  const int64_t items = int64_t(runs) * hp_.n_head_kv * splits;
  auto item = [&](int64_t it, int ith) {
    const int32_t split = int32_t(it % splits), g = int32_t(it / splits % hp_.n_head_kv);
    attend_run(l, b, kv, runs_[it / splits / hp_.n_head_kv], g, split, ith);
  };
  if (!pool || pool->active() == 1) {
    for (int64_t it = 0; it < items; ++it) item(it, 0);
  } else {
    auto work = [&](int ith, int nth) {
      int64_t i0, i1;
      hal::split_range(items, ith, nth, 1, i0, i1);
      for (int64_t it = i0; it < i1; ++it) item(it, ith);
    };
    pool->parallel(work);
  }
}

// One kernel call: the run's rows times the split's query heads of KV head g, against
// the keys the run's last row sees (earlier rows see a prefix of them: no window).
void Forward::attend_run(int l, const Batch& b, const KvCache& kv, RowRun run, int32_t g, int32_t split, int ith) {
  const int32_t hd = hp_.head_dim, group = hp_.n_head / hp_.n_head_kv;
  const int32_t s = b.seq[run.row0], p_last = b.pos[run.row0 + run.n - 1];
  bool f16 = true;
  for (const KvBlockRef& blk : kv.seq_blocks(s)) {
    if (blk.pos0 > p_last) break;
    f16 = f16 && kv.k_type(blk.id) == hal::DType::kF16 && kv.v_type(blk.id) == hal::DType::kF16;
  }
  if (!f16) {
    // The row path takes every head of the group at once.
    if (split == 0)
      for (int32_t r = run.row0; r < run.row0 + run.n; ++r) attend_row(l, b, kv, r, g, ith);
    return;
  }
  const KernelScratch ks = kernel_scratch(hp_, p_);
  uint8_t* scratch = attn_ + size_t(ith) * attn_stride_;
  auto** kp = reinterpret_cast<const uint16_t**>(scratch + ks.kptr);
  auto** vp = reinterpret_cast<const uint16_t**>(scratch + ks.vptr);
  auto* pos = reinterpret_cast<int32_t*>(scratch + ks.pos);
  const size_t e0 = size_t(g) * size_t(hd);
  int32_t nv = 0;
  for (const KvBlockRef& blk : kv.seq_blocks(s)) {
    if (blk.pos0 > p_last) break;
    const uint8_t* krows = k_rows(kv, blk.id, l);
    const uint8_t* vrows = v_rows(kv, blk.id, l);
    const size_t krb = kv.k_row_bytes(blk.id), vrb = kv.v_row_bytes(blk.id);
    const int32_t end = std::min(blk.pos0 + kv.block(), p_last + 1);
    for (int32_t j = blk.pos0; j < end; ++j) {
      if (!kv.visible(s, p_last, j)) continue;
      kp[nv] = reinterpret_cast<const uint16_t*>(krows + size_t(j - blk.pos0) * krb) + e0;
      vp[nv] = reinterpret_cast<const uint16_t*>(vrows + size_t(j - blk.pos0) * vrb) + e0;
      pos[nv++] = j;
    }
  }
  AIRT_DCHECK(nv >= 1 && nv <= p_.max_visible);
  const int32_t h0 = split * heads_per_call(hp_), h1 = std::min(group, h0 + heads_per_call(hp_));
  const float* q[hal::kAttnMaxRows];
  float* out[hal::kAttnMaxRows];
  int32_t n_kv[hal::kAttnMaxRows];
  int nq = 0;
  int32_t seen = 0;
  for (int32_t r = run.row0; r < run.row0 + run.n; ++r) {
    while (seen < nv && pos[seen] <= b.pos[r]) ++seen;
    for (int32_t t = h0; t < h1; ++t) {
      const size_t off = size_t(r) * size_t(hp_.q_dim()) + (size_t(g) * size_t(group) + size_t(t)) * size_t(hd);
      q[nq] = q_ + off;
      out[nq] = att_ + off;
      n_kv[nq++] = seen;
    }
  }
  k_->attention(nq, hd, q, n_kv, kp, vp, 1.0f / std::sqrt(float(hd)), out, scratch + ks.kernel);
}

// Attention of one row for the query heads sharing KV head g: scores over the visible
// positions of the row's sequence, softmax, weighted sum of V. f16 keys are dotted with
// the query rounded to f16 (as the reference implementation does); quantized keys are
// decoded to f32 first.
void Forward::attend_row(int l, const Batch& b, const KvCache& kv, int32_t row, int32_t g, int ith) {
  const hal::Kernels& k = *k_;
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
    const uint8_t* rows = k_rows(kv, blk.id, l);
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
    const uint8_t* rows = v_rows(kv, blk.id, l);
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
