// The Vulkan backend's forward pass (vulkan_backend_impl.h): the steps of forward.cpp as
// dispatches with a barrier between dependent ones, recorded once per shape.
#if AIRT_HAVE_VULKAN

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/model/vulkan_backend_impl.h"

namespace airt::model {
namespace {

constexpr uint64_t f4 = sizeof(float);

bool skipped(const BackendParams& p, int l) { return (p.skip[size_t(l) / 64] >> (l % 64)) & 1; }

// cos, sin of each rotated pair at `pos`, the angles computed as the CPU kernel does
// (powers of the base by repeated multiplication in f32), so both rotate alike.
void rope_angles(const Hparams& hp, int32_t pos, float* cs) {
  const float step = std::pow(hp.rope_base, -2.0f / float(hp.n_rot));
  float theta = float(pos);
  for (int32_t i = 0; i < hp.n_rot / 2; ++i) {
    const float angle = hp.rope_scale * theta;
    cs[2 * i] = std::cos(angle);
    cs[2 * i + 1] = std::sin(angle);
    theta *= step;
  }
}

}  // namespace

// Tokens, RoPE positions per head, each row's KV slot, each row's attention table (its
// sequence's blocks) and the kept rows, written to the mapped tables region.
Status VulkanBackend::write_tables(const Batch& b, const KvCache& kv) {
  const Hparams& hp = model_.hparams();
  const int32_t n = int32_t(b.token.size());
  auto* base = static_cast<uint8_t*>(tables_.mapped());
  auto at = [&](uint64_t off) { return reinterpret_cast<int32_t*>(base + off); };
  std::memcpy(at(lay_.tokens), b.token.data(), size_t(n) * sizeof(int32_t));
  std::memcpy(at(lay_.keep), b.logits.data(), b.logits.size() * sizeof(int32_t));
  auto* cs = reinterpret_cast<float*>(base + lay_.rope);
  int32_t* slots = at(lay_.slots);
  int32_t* rows = at(lay_.rows);
  int32_t* blocks = at(lay_.blocks);
  const uint64_t block_cap = (lay_.keep - lay_.blocks) / (2 * sizeof(int32_t));
  int32_t n_blocks = 0, last_seq = -1, seq_b0 = 0, seq_nb = 0;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = b.seq[size_t(i)], pos = b.pos[size_t(i)];
    rope_angles(hp, pos, cs + size_t(i) * size_t(hp.n_rot));
    const KvBlockRef& blk = kv.block_of(s, pos);
    if (kv.k_type(blk.id) != hal::DType::kF16 || kv.v_type(blk.id) != hal::DType::kF16) {
      return errorf(Error::kBackendUnsupported, "vulkan: KV blocks of %s/%s: the device cache holds f16 only",
                    hal::dtype_name(kv.k_type(blk.id)), hal::dtype_name(kv.v_type(blk.id)));
    }
    slots[i] = int32_t((kv.k_offset(blk.id, 0) + size_t(pos - blk.pos0) * kv.k_row_bytes(blk.id)) / 4);
    if (s != last_seq) {  // rows of one sequence share its table (they come together)
      auto tab = kv.seq_blocks(s);
      if (uint64_t(n_blocks) + tab.size() > block_cap) {
        return errorf(Error::kInternal, "vulkan: %d sequences' block tables exceed the plan", n);
      }
      seq_b0 = n_blocks;
      seq_nb = int32_t(tab.size());
      for (const KvBlockRef& r : tab) {
        blocks[2 * n_blocks] = r.id;
        blocks[2 * n_blocks + 1] = r.pos0;
        ++n_blocks;
      }
      last_seq = s;
    }
    int32_t* row = rows + 5 * i;
    // Only blocks that start at or before the row's position matter to it.
    int32_t nb = 0;
    while (nb < seq_nb && blocks[2 * (seq_b0 + nb) + 1] <= pos) ++nb;
    row[0] = seq_b0;
    row[1] = nb;
    row[2] = pos;
    row[3] = kv.seq_window(s);
    row[4] = kv.seq_sinks(s);
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

  AIRT_TRY(norm(r, L.attn_norm, x, n, xn));
  r.barrier();
  AIRT_TRY(product(r, L.wq, xn, n, q));
  AIRT_TRY(product(r, L.wk, xn, n, k));
  AIRT_TRY(product(r, L.wv, xn, n, v));
  r.barrier();
  if (L.bq.data) AIRT_TRY(bias(r, L.bq, q, n));
  if (L.bk.data) AIRT_TRY(bias(r, L.bk, k, n));
  if (L.bv.data) AIRT_TRY(bias(r, L.bv, v, n));
  if (L.bq.data || L.bk.data || L.bv.data) r.barrier();
  AIRT_TRY(rope(r, q, n, hp.n_head));
  AIRT_TRY(rope(r, k, n, hp.n_head_kv));
  r.barrier();
  AIRT_TRY(store_kv(r, l, n, kv));
  r.barrier();
  AIRT_TRY(attend(r, l, n, kv));
  r.barrier();
  AIRT_TRY(product(r, L.wo, att, n, tmp));
  r.barrier();
  AIRT_TRY(add(r, x, tmp, uint32_t(N * dim), x));
  r.barrier();
  AIRT_TRY(norm(r, L.ffn_norm, x, n, xn));
  r.barrier();
  AIRT_TRY(product(r, L.w_gate, xn, n, gate));
  AIRT_TRY(product(r, L.w_up, xn, n, upb));
  r.barrier();
  AIRT_TRY(silu_mul(r, gate, upb, uint32_t(N * ff), gate));
  r.barrier();
  AIRT_TRY(product(r, L.w_down, gate, n, tmp));
  r.barrier();
  AIRT_TRY(add(r, x, tmp, uint32_t(N * dim), x));
  r.barrier();
  return {};
}

Status VulkanBackend::record(hal::vk::Recorder& r, int32_t n, int32_t nl, const KvCache& kv) {
  const Hparams& hp = model_.hparams();
  const Weights& w = model_.tier(tier_).weights;
  const uint64_t N = uint64_t(n), dim = uint64_t(hp.dim);
  AIRT_TRY(r.begin());
  AIRT_TRY(embed(r, w.token_embd, table(lay_.tokens, N * 4), n, act(lay_.x, N * dim * f4)));
  r.barrier();
  for (int l = 0; l < hp.n_layer; ++l)
    if (!skipped(p_, l)) AIRT_TRY(record_layer(r, l, n, kv));
  if (nl > 0) {
    // The kept rows, gathered, normed and multiplied by the output matrix.
    AIRT_TRY(gather(r, act(lay_.x, N * dim * f4), table(lay_.keep, uint64_t(nl) * 4), nl,
                    act(lay_.xn, uint64_t(nl) * dim * f4)));
    r.barrier();
    AIRT_TRY(norm(r, w.output_norm, act(lay_.xn, uint64_t(nl) * dim * f4), nl, act(lay_.xo, uint64_t(nl) * dim * f4)));
    r.barrier();
    AIRT_TRY(product(r, w.output, act(lay_.xo, uint64_t(nl) * dim * f4), nl,
                     VkRef(logits_, 0, uint64_t(nl) * uint64_t(hp.n_vocab) * f4)));
  }
  return r.end();
}

Status VulkanBackend::eval(const Batch& b, const KvCache& kv) {
  const int32_t n = int32_t(b.token.size()), nl = int32_t(b.logits.size());
  if (n < 1 || n > p_.n_rows || nl > p_.n_logits) {
    return errorf(Error::kRequestOutOfRange, "vulkan: a batch of %d rows keeping %d (the plan: %d, %d)", n, nl,
                  p_.n_rows, p_.n_logits);
  }
  AIRT_TRY(write_tables(b, kv));
  // The recording of this shape, else the least recently used slot, re-recorded.
  Recording* rec = nullptr;
  for (Recording& c : recs_)
    if (c.n == n && c.nl == nl && c.tier == tier_) rec = &c;
  if (!rec) {
    rec = &*std::min_element(recs_.begin(), recs_.end(), [](const Recording& a, const Recording& c) {
      return a.used < c.used;
    });
    if (!rec->rec.handle()) rec->rec = AIRT_TRY(hal::vk::Recorder::create(*ctx_));
    rec->tier = -1;
    AIRT_TRY(record(rec->rec, n, nl, kv));
    rec->n = n;
    rec->nl = nl;
    rec->tier = tier_;
  }
  rec->used = ++clock_;
  auto done = rec->rec.submit_and_wait();
  if (!done.ok()) {
    return errorf(done.error().code, "vulkan: %s: %s", ctx_->info().name.c_str(), done.error().message.c_str());
  }
  kept_ = nl;
  return {};
}

}  // namespace airt::model

#endif
