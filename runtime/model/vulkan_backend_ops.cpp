// The Vulkan backend's ops (vulkan_backend_impl.h): each step of the pass as a call into
// hal/vulkan's Ops (which picks the subgroup / integer-dot / portable build the device
// runs and places a barrier after each op), plus qwen2's bias rows.
#if AIRT_HAVE_VULKAN

#include <cmath>
#include <string>

#include "runtime/model/vulkan_backend_impl.h"

namespace airt::model {
namespace {

struct BiasPush {
  uint32_t n;
};

uint32_t groups(uint64_t n, uint32_t per) { return uint32_t((n + per - 1) / per); }

}  // namespace

Status VulkanBackend::create_kernels() {
  add_bias_ = AIRT_TRY(hal::vk::Kernel::create(*ctx_, "attention_qkv_bias", 2, sizeof(BiasPush)));
  return {};
}

bool VulkanBackend::supports(hal::Op op, hal::DType type) const { return hal::vk::Ops::supports(op, type); }

Status VulkanBackend::product(hal::vk::Recorder& r, const WeightTensor& w, VkRef x, int32_t n, VkRef out) {
  hal::vk::MatmulRefs a;
  a.type = w.type;
  a.k = w.cols;
  a.rows = w.rows;
  a.n = n;
  a.w = weight(w);
  a.row_bytes = w.row_bytes;
  a.x = x;
  a.out = out;
  a.scratch = act(lay_.scratch, lay_.bytes - lay_.scratch);
  AIRT_TRY(ops_->matmul(r, a));
  return mark_product(r, w, n);
}

Status VulkanBackend::bias(hal::vk::Recorder& r, const WeightTensor& b, VkRef x, int32_t n) {
  const BiasPush p{uint32_t(b.cols)};
  AIRT_TRY(r.dispatch(add_bias_, {x, weight(b)}, &p, groups(uint64_t(b.cols), 64), uint32_t(n)));
  r.barrier();
  return mark(r, "bias");
}

Status VulkanBackend::add(hal::vk::Recorder& r, VkRef a, VkRef b, uint32_t n, VkRef out) {
  AIRT_TRY(ops_->add(r, a, b, out, n));
  return mark(r, "add");
}

Status VulkanBackend::silu_mul(hal::vk::Recorder& r, VkRef gate, VkRef up, uint32_t n, VkRef out) {
  AIRT_TRY(ops_->silu_mul(r, gate, up, out, n));
  return mark(r, "silu_mul");
}

Status VulkanBackend::embed(hal::vk::Recorder& r, const WeightTensor& w, VkRef ids, int32_t n, VkRef out) {
  AIRT_TRY(ops_->get_rows(r, w.type, w.cols, weight(w), w.row_bytes, ids, n, out));
  return mark(r, "get_rows");
}

Status VulkanBackend::gather(hal::vk::Recorder& r, VkRef src, VkRef ids, int32_t n, VkRef out) {
  const int64_t dim = model_.hparams().dim;
  AIRT_TRY(ops_->get_rows(r, hal::DType::kF32, dim, src, uint64_t(dim) * 4, ids, n, out));
  return mark(r, "get_rows");
}

Status VulkanBackend::norm(hal::vk::Recorder& r, const WeightTensor& w, VkRef x, int32_t rows, VkRef y) {
  AIRT_TRY(ops_->rms_norm(r, x, weight(w), y, rows, w.cols, model_.hparams().rms_eps));
  return mark(r, "rms_norm");
}

Status VulkanBackend::rope(hal::vk::Recorder& r, VkRef x, int32_t n, int32_t heads) {
  const Hparams& hp = model_.hparams();
  hal::vk::RopeRefs a;
  a.x = x;
  a.table = table(lay_.rope, uint64_t(n) * uint64_t(hp.n_rot) * 4);
  a.n_heads = int64_t(n) * heads;
  a.head_dim = hp.head_dim;
  a.n_rot = hp.n_rot;
  a.heads_per_pos = heads;
  a.neox = hp.rope_mode == models::RopeMode::kNeox;
  AIRT_TRY(ops_->rope(r, a));
  return mark(r, "rope");
}

// K and V of every row into its slot, one call per run of rows with the same types.
Status VulkanBackend::store_kv(hal::vk::Recorder& r, int l, int32_t n, const KvCache& kv) {
  const uint64_t kvd = uint64_t(model_.hparams().kv_dim());
  for (size_t i = 0; i < runs_.size(); ++i) {
    const int32_t r0 = runs_[i].row0, r1 = i + 1 < runs_.size() ? runs_[i + 1].row0 : n;
    const uint64_t rows = uint64_t(r1 - r0);
    for (int kv_half = 0; kv_half < 2; ++kv_half) {
      hal::vk::KvStoreRefs a;
      a.type = kv_half ? runs_[i].v : runs_[i].k;
      a.src = act((kv_half ? lay_.v : lay_.k) + uint64_t(r0) * kvd * 4, rows * kvd * 4);
      a.kv = VkRef(kv_);
      a.layer_off = kv_layer_off(kv, l);
      a.dst = table((kv_half ? lay_.v_slots : lay_.k_slots) + uint64_t(r0) * 4, rows * 4);
      a.rows = int64_t(rows);
      a.n = int64_t(kvd);
      AIRT_TRY(ops_->kv_store(r, a));
      AIRT_TRY(mark(r, "kv_store"));
    }
  }
  return {};
}

Status VulkanBackend::attend(hal::vk::Recorder& r, int l, int32_t n, const KvCache& kv) {
  const Hparams& hp = model_.hparams();
  const uint64_t N = uint64_t(n), qd = uint64_t(hp.q_dim());
  hal::vk::AttentionRefs a;
  a.q = act(lay_.q, N * qd * 4);
  a.kv = VkRef(kv_);
  a.layer_off = kv_layer_off(kv, l);
  a.keys = table(lay_.keys, lay_.n_keys * sizeof(hal::vk::KvKey));
  a.n_keys = int64_t(lay_.n_keys);
  a.rows = table(lay_.rows, N * 8);
  a.out = act(lay_.att, N * qd * 4);
  a.n_rows = n;
  a.n_head = hp.n_head;
  a.n_head_kv = hp.n_head_kv;
  a.head_dim = hp.head_dim;
  a.scale = 1.0f / std::sqrt(float(hp.head_dim));
  AIRT_TRY(ops_->attention(r, a));
  return mark(r, "attention");
}

Status VulkanBackend::mark(hal::vk::Recorder& r, const char* op) {
  if (!labels_) return {};
  AIRT_TRY(r.timestamp());
  labels_->emplace_back(op);
  return {};
}

// A product of one row is a matrix-vector kernel, of several a matrix-matrix one.
Status VulkanBackend::mark_product(hal::vk::Recorder& r, const WeightTensor& w, int32_t n) {
  if (!labels_) return {};
  const std::string op = std::string(n == 1 ? "matvec " : "matmul ") + hal::dtype_name(w.type);
  return mark(r, op.c_str());
}

}  // namespace airt::model

#endif
