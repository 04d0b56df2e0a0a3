// The Vulkan backend's forward pass (vulkan_backend_impl.h): the steps of forward.cpp as
// hal::vk::Ops calls (each ends with a barrier), recorded once per shape and replayed.
#if AIRT_HAVE_VULKAN

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/model/vulkan_backend_impl.h"

namespace airt::model {
namespace {

constexpr uint64_t f4 = sizeof(float);

bool skipped(const BackendParams& p, int l) { return (p.skip[size_t(l) / 64] >> (l % 64)) & 1; }

}  // namespace

uint32_t VulkanBackend::k_slot(const KvCache& kv, int32_t id, size_t slot) const {
  return uint32_t(slice_.at(kv.k_offset(id, slice_.begin)) + slot * kv.k_row_bytes(id));
}

uint32_t VulkanBackend::v_slot(const KvCache& kv, int32_t id, size_t slot) const {
  return uint32_t(slice_.at(kv.v_offset(id, slice_.begin)) + slot * kv.v_row_bytes(id));
}

std::span<float> VulkanBackend::hidden_in(int32_t rows) {
  if (range().begin == 0 || !tables_.mapped()) return {};
  auto* base = static_cast<uint8_t*>(tables_.mapped()) + lay_.input;
  return {reinterpret_cast<float*>(base), size_t(rows) * size_t(model_.hparams().dim)};
}

// Tokens, rope angles, each row's K and V slot, each row's visible keys and the kept rows,
// written to the mapped tables region; the runs of rows by KV types into runs_.
Status VulkanBackend::write_tables(const Batch& b, const KvCache& kv) {
  const Hparams& hp = model_.hparams();
  const int32_t n = int32_t(b.token.size());
  auto* base = static_cast<uint8_t*>(tables_.mapped());
  auto at = [&](uint64_t off) { return reinterpret_cast<uint32_t*>(base + off); };
  std::memcpy(at(lay_.tokens), b.token.data(), size_t(n) * sizeof(int32_t));
  std::memcpy(at(lay_.keep), b.logits.data(), b.logits.size() * sizeof(int32_t));
  auto* cs = reinterpret_cast<float*>(base + lay_.rope);
  slice_ = kv_slice(hp, p_);
  runs_.clear();
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = b.seq[size_t(i)], pos = b.pos[size_t(i)];
    hal::vk::rope_table(&pos, 1, hp.n_rot, hp.rope_base, hp.rope_scale, cs + size_t(i) * size_t(hp.n_rot));
    const KvBlockRef& blk = kv.block_of(s, pos);
    const TypeRun run{i, kv.k_type(blk.id), kv.v_type(blk.id)};
    if (runs_.empty() || runs_.back().k != run.k || runs_.back().v != run.v) runs_.push_back(run);
    const size_t slot = size_t(pos - blk.pos0);
    at(lay_.k_slots)[i] = k_slot(kv, blk.id, slot);
    at(lay_.v_slots)[i] = v_slot(kv, blk.id, slot);
  }
  return write_keys(b, kv);
}

// Each row's visible keys: a range of the keys table (first, count) in the rows table.
Status VulkanBackend::write_keys(const Batch& b, const KvCache& kv) {
  const int32_t n = int32_t(b.token.size());
  auto* base = static_cast<uint8_t*>(tables_.mapped());
  auto* rows = reinterpret_cast<uint32_t*>(base + lay_.rows);
  auto* keys = reinterpret_cast<hal::vk::KvKey*>(base + lay_.keys);
  uint32_t used = 0;
  for (int32_t i = 0; i < n;) {
    // A run of rows of one sequence shares the key list of its last row, each row taking
    // the prefix it sees; with a window every row lists its own keys.
    const int32_t s = b.seq[size_t(i)];
    int32_t j = i + 1;
    if (kv.seq_window(s) <= 0)
      while (j < n && b.seq[size_t(j)] == s) ++j;
    const int32_t last = b.pos[size_t(j - 1)];
    const uint32_t first = used;
    for (const KvBlockRef& blk : kv.seq_blocks(s)) {
      if (blk.pos0 > last) break;
      const int32_t end = std::min(blk.pos0 + kv.block(), last + 1);
      const uint32_t types = hal::vk::kv_key_types(kv.k_type(blk.id), kv.v_type(blk.id));
      for (int32_t p = blk.pos0; p < end; ++p) {
        if (!kv.visible(s, last, p)) continue;
        if (used >= lay_.n_keys) return errorf(Error::kInternal, "vulkan: the step's keys exceed the plan's %llu",
                                               static_cast<unsigned long long>(lay_.n_keys));
        const size_t slot = size_t(p - blk.pos0);
        keys[used] = {k_slot(kv, blk.id, slot), v_slot(kv, blk.id, slot), types};
        key_pos_[used++] = p;
      }
    }
    for (int32_t r = i, seen = int32_t(first); r < j; ++r) {
      while (seen < int32_t(used) && key_pos_[size_t(seen)] <= b.pos[size_t(r)]) ++seen;
      rows[2 * r] = first;
      rows[2 * r + 1] = uint32_t(seen) - first;
    }
    i = j;
  }
  return {};
}

Status VulkanBackend::record_layer(hal::vk::Recorder& r, int l, int32_t n, const KvCache& kv) {
  const Hparams& hp = model_.hparams();
  const LayerWeights& L = model_.tier(tier_).weights.layers[size_t(l)];
  const uint64_t N = uint64_t(n), dim = uint64_t(hp.dim), qd = uint64_t(hp.q_dim()), kvd = uint64_t(hp.kv_dim());
  const uint64_t ff = uint64_t(hp.n_ff);
  const VkRef x = act(lay_.x, N * dim * f4), xn = act(lay_.xn, N * dim * f4), tmp = act(lay_.tmp, N * dim * f4);
  const VkRef q = act(lay_.q, N * qd * f4), k = act(lay_.k, N * kvd * f4), v = act(lay_.v, N * kvd * f4);
  const VkRef att = act(lay_.att, N * qd * f4);
  const VkRef gate = act(lay_.gate, N * ff * f4), upb = act(lay_.up, N * ff * f4);

  // Each op ends with a barrier (hal/vulkan/ops.h).
  AIRT_TRY(norm(r, L.attn_norm, x, n, xn));
  AIRT_TRY(product(r, L.wq, xn, n, q));
  AIRT_TRY(product(r, L.wk, xn, n, k));
  AIRT_TRY(product(r, L.wv, xn, n, v));
  if (L.bq.data) AIRT_TRY(bias(r, L.bq, q, n));
  if (L.bk.data) AIRT_TRY(bias(r, L.bk, k, n));
  if (L.bv.data) AIRT_TRY(bias(r, L.bv, v, n));
  AIRT_TRY(rope(r, q, n, hp.n_head));
  AIRT_TRY(rope(r, k, n, hp.n_head_kv));
  AIRT_TRY(store_kv(r, l, n, kv));
  AIRT_TRY(attend(r, l, n, kv));
  AIRT_TRY(product(r, L.wo, att, n, tmp));
  AIRT_TRY(add(r, x, tmp, uint32_t(N * dim), x));
  AIRT_TRY(norm(r, L.ffn_norm, x, n, xn));
  AIRT_TRY(product(r, L.w_gate, xn, n, gate));
  AIRT_TRY(product(r, L.w_up, xn, n, upb));
  AIRT_TRY(silu_mul(r, gate, upb, uint32_t(N * ff), gate));
  AIRT_TRY(product(r, L.w_down, gate, n, tmp));
  AIRT_TRY(add(r, x, tmp, uint32_t(N * dim), x));
  return {};
}

Status VulkanBackend::record(hal::vk::Recorder& r, int32_t n, int32_t nl, const KvCache& kv) {
  const Hparams& hp = model_.hparams();
  const Weights& w = model_.tier(tier_).weights;
  const uint64_t N = uint64_t(n), dim = uint64_t(hp.dim);
  const LayerRange lr = range();
  if (lr.end != hp.n_layer) {
    return errorf(Error::kInternal, "vulkan: layers %d..%d: a device pass runs through the last layer (%d)", lr.begin,
                  lr.end - 1, hp.n_layer - 1);
  }
  AIRT_TRY(r.begin());
  if (labels_) AIRT_TRY(r.timestamp());  // the pass's start: each op's time is to the stamp before it
  if (lr.begin == 0) {
    AIRT_TRY(embed(r, w.token_embd, table(lay_.tokens, N * 4), n, act(lay_.x, N * dim * f4)));
  } else {  // a split pass: the residual stream the CPU part handed over
    AIRT_TRY(r.copy(table(lay_.input, N * dim * f4), act(lay_.x, N * dim * f4), N * dim * f4));
    r.barrier();
    AIRT_TRY(mark(r, "hand-off"));
  }
  for (int l = lr.begin; l < lr.end; ++l)
    if (!skipped(p_, l)) AIRT_TRY(record_layer(r, l, n, kv));
  if (nl > 0) {
    // The kept rows, gathered, normed and multiplied by the output matrix.
    AIRT_TRY(gather(r, act(lay_.x, N * dim * f4), table(lay_.keep, uint64_t(nl) * 4), nl,
                    act(lay_.xn, uint64_t(nl) * dim * f4)));
    AIRT_TRY(norm(r, w.output_norm, act(lay_.xn, uint64_t(nl) * dim * f4), nl, act(lay_.xo, uint64_t(nl) * dim * f4)));
    AIRT_TRY(product(r, w.output, act(lay_.xo, uint64_t(nl) * dim * f4), nl,
                     VkRef(logits_, 0, uint64_t(nl) * uint64_t(hp.n_vocab) * f4)));
  }
  return r.end();
}

// The recording of this shape (timed when profiling), else the least recently used slot,
// re-recorded.
Result<VulkanBackend::Recording*> VulkanBackend::recording_for(int32_t n, int32_t nl, const KvCache& kv) {
  const bool timed = profile_.on;
  for (Recording& c : recs_)
    if (c.n == n && c.nl == nl && c.tier == tier_ && c.runs == runs_ && c.timed == timed) return &c;
  Recording* rec = &*std::min_element(recs_.begin(), recs_.end(), [](const Recording& a, const Recording& c) {
    return a.used < c.used;
  });
  // A timestamp after every op: a layer's ops plus two per run of KV types, and the ends.
  const uint32_t stamps =
      timed ? uint32_t(model_.hparams().n_layer + 1) * uint32_t(24 + 2 * runs_.size()) : 0;
  if (!rec->rec.handle() || rec->rec.max_timestamps() < stamps)
    rec->rec = AIRT_TRY(hal::vk::Recorder::create(*ctx_, stamps));
  rec->tier = -1;
  rec->labels.clear();
  labels_ = timed ? &rec->labels : nullptr;
  Status st = record(rec->rec, n, nl, kv);
  if (!st.ok()) {
    // A deep model's recordings may not all fit the descriptor pool: keep this one only.
    for (Recording& c : recs_)
      if (&c != rec) c = Recording();
    rec->labels.clear();
    st = record(rec->rec, n, nl, kv);
  }
  labels_ = nullptr;
  if (!st.ok()) return std::move(st).error();
  rec->n = n;
  rec->nl = nl;
  rec->tier = tier_;
  rec->runs = runs_;
  rec->timed = timed;
  return rec;
}

Status VulkanBackend::eval(const Batch& b, const KvCache& kv) {
  const int32_t n = int32_t(b.token.size()), nl = int32_t(b.logits.size());
  if (n < 1 || n > p_.n_rows || nl > p_.n_logits) {
    return errorf(Error::kRequestOutOfRange, "vulkan: a batch of %d rows keeping %d (the plan: %d, %d)", n, nl,
                  p_.n_rows, p_.n_logits);
  }
  AIRT_TRY(write_tables(b, kv));
  Recording* rec = AIRT_TRY(recording_for(n, nl, kv));
  rec->used = ++clock_;
  auto done = rec->rec.submit_and_wait();
  if (!done.ok()) {  // "vulkan: <device>: <call>: ...", the hal's own "vulkan: " once
    const std::string& m = done.error().message;
    const char* why = m.rfind("vulkan: ", 0) == 0 ? m.c_str() + 8 : m.c_str();
    return errorf(done.error().code, "vulkan: %s: %s", ctx_->info().name.c_str(), why);
  }
  kept_ = nl;
  if (rec->timed) AIRT_TRY(accumulate(rec->rec, rec->labels, n));
  return {};
}

Result<OpProfile*> VulkanBackend::op_profile() const {
  if (!ctx_->info().timestamps)
    return errorf(Error::kBackendUnsupported,
                  "--profile: vulkan device %s writes no timestamps on its compute queue, so it has no per-op times",
                  ctx_->info().name.c_str());
  return &profile_;
}

Status VulkanBackend::accumulate(const hal::vk::Recorder& r, const std::vector<std::string>& labels, int32_t n) {
  stamp_ns_.resize(labels.size() + 1);
  AIRT_TRY(r.timestamps_ns(stamp_ns_));
  for (size_t i = 0; i < labels.size(); ++i) {
    auto it = std::find_if(profile_.ops.begin(), profile_.ops.end(),
                           [&](const OpTime& t) { return t.op == labels[i]; });
    if (it == profile_.ops.end()) it = profile_.ops.insert(profile_.ops.end(), OpTime{labels[i], 0, 0});
    ++it->calls;
    it->ms += (stamp_ns_[i + 1] - stamp_ns_[i]) * 1e-6;
  }
  profile_.rows += n;
  return {};
}

}  // namespace airt::model

#endif
