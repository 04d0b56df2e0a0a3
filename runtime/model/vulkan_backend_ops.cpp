// The kernels of the Vulkan backend's ops (vulkan_backend_impl.h): which embedded shader
// each op runs, its push constants and its workgroup counts. The push-constant structs
// mirror the `layout(push_constant)` blocks of hal/vulkan/shaders/*.comp.
#if AIRT_HAVE_VULKAN

#include <cmath>
#include <string>

#include "runtime/model/vulkan_backend_impl.h"

namespace airt::model {
namespace {

constexpr hal::DType kWeightTypes[] = {hal::DType::kF32,  hal::DType::kF16,  hal::DType::kQ8_0, hal::DType::kQ4_0,
                                       hal::DType::kQ4_K, hal::DType::kQ6_K, hal::DType::kQ5_0};

uint32_t groups(uint64_t n, uint32_t per) { return uint32_t((n + per - 1) / per); }

struct BiasPush {
  uint32_t n;
};
struct AddPush {
  uint32_t n;
};
struct MatPush {
  uint32_t type, k, rows, n, row_bytes;
};
struct GetRowsPush {
  uint32_t type, k, row_bytes;
};
struct NormPush {
  uint32_t n;
  float eps;
};
struct RopePush {
  uint32_t head_dim, n_rot, neox, heads_per_row;
};
constexpr uint32_t kMatCols = 8;  // columns one fwd_matmul workgroup takes

struct KvStorePush {
  uint32_t half_dim, v_delta, layer_words;
};
struct AttentionPush {
  uint32_t head_dim, n_head, group, q_dim, block, block_words, layer_words, v_delta, k_row_words;
  float scale;
};

}  // namespace

Status VulkanBackend::create_kernels() {
  hal::vk::Context& c = *ctx_;
  k_.matmul = AIRT_TRY(hal::vk::Kernel::create(c, "fwd_matmul", 3, sizeof(MatPush)));
  k_.get_rows = AIRT_TRY(hal::vk::Kernel::create(c, "fwd_get_rows", 3, sizeof(GetRowsPush)));
  k_.rms_norm = AIRT_TRY(hal::vk::Kernel::create(c, "fwd_rms_norm", 3, sizeof(NormPush)));
  k_.rope = AIRT_TRY(hal::vk::Kernel::create(c, "fwd_rope", 2, sizeof(RopePush)));
  k_.silu_mul = AIRT_TRY(hal::vk::Kernel::create(c, "fwd_silu_mul", 3, sizeof(AddPush)));
  k_.add = AIRT_TRY(hal::vk::Kernel::create(c, "add", 3, sizeof(AddPush)));
  k_.add_bias = AIRT_TRY(hal::vk::Kernel::create(c, "attention_qkv_bias", 2, sizeof(BiasPush)));
  k_.kv_store = AIRT_TRY(hal::vk::Kernel::create(c, "attention_kv_store", 4, sizeof(KvStorePush)));
  k_.attention = AIRT_TRY(hal::vk::Kernel::create(c, "attention_paged_f16", 5, sizeof(AttentionPush)));
  return {};
}

bool VulkanBackend::supports(hal::Op op, hal::DType type) const {
  switch (op) {
    case hal::Op::kMatmul:
    case hal::Op::kGetRows:
      for (hal::DType t : kWeightTypes)
        if (t == type) return true;
      return false;
    case hal::Op::kAttention:
    case hal::Op::kKvStore: return type == hal::DType::kF16;
    case hal::Op::kRmsNorm:
    case hal::Op::kRope:
    case hal::Op::kSiluMul:
    case hal::Op::kAdd: return type == hal::DType::kF32;
    default: return false;
  }
}

Status VulkanBackend::product(hal::vk::Recorder& r, const WeightTensor& w, VkRef x, int32_t n, VkRef out) {
  const MatPush p{uint32_t(w.type), uint32_t(w.cols), uint32_t(w.rows), uint32_t(n), uint32_t(w.row_bytes)};
  return r.dispatch(k_.matmul, {weight(w), x, out}, &p, uint32_t(w.rows), groups(uint64_t(n), kMatCols));
}

Status VulkanBackend::embed(hal::vk::Recorder& r, const WeightTensor& w, VkRef ids, int32_t n, VkRef out) {
  const GetRowsPush p{uint32_t(w.type), uint32_t(w.cols), uint32_t(w.row_bytes)};
  return r.dispatch(k_.get_rows, {weight(w), ids, out}, &p, groups(uint64_t(w.cols), 64), uint32_t(n));
}

Status VulkanBackend::gather(hal::vk::Recorder& r, VkRef src, VkRef ids, int32_t n, VkRef out) {
  const uint32_t dim = uint32_t(model_.hparams().dim);
  const GetRowsPush p{uint32_t(hal::DType::kF32), dim, dim * 4};
  return r.dispatch(k_.get_rows, {src, ids, out}, &p, groups(dim, 64), uint32_t(n));
}

Status VulkanBackend::norm(hal::vk::Recorder& r, const WeightTensor& w, VkRef x, int32_t rows, VkRef y) {
  const NormPush p{uint32_t(w.cols), model_.hparams().rms_eps};
  return r.dispatch(k_.rms_norm, {x, weight(w), y}, &p, uint32_t(rows));
}

Status VulkanBackend::rope(hal::vk::Recorder& r, VkRef x, int32_t n, int32_t heads_per_row) {
  const Hparams& hp = model_.hparams();
  const RopePush p{uint32_t(hp.head_dim), uint32_t(hp.n_rot), hp.rope_mode == models::RopeMode::kNeox ? 1u : 0u,
                   uint32_t(heads_per_row)};
  return r.dispatch(k_.rope, {x, table(lay_.rope, uint64_t(n) * uint64_t(hp.n_rot) * 4)}, &p,
                    groups(uint64_t(hp.n_rot / 2), 64), uint32_t(n * heads_per_row));
}

Status VulkanBackend::silu_mul(hal::vk::Recorder& r, VkRef gate, VkRef up, uint32_t n, VkRef out) {
  const AddPush p{n};
  return r.dispatch(k_.silu_mul, {gate, up, out}, &p, groups(n, 64));
}

Status VulkanBackend::bias(hal::vk::Recorder& r, const WeightTensor& b, VkRef x, int32_t n) {
  const BiasPush p{uint32_t(b.cols)};
  return r.dispatch(k_.add_bias, {x, weight(b)}, &p, groups(uint64_t(b.cols), 64), uint32_t(n));
}

Status VulkanBackend::add(hal::vk::Recorder& r, VkRef a, VkRef b, uint32_t n, VkRef out) {
  const AddPush p{n};
  return r.dispatch(k_.add, {a, b, out}, &p, groups(n, 64));
}

Status VulkanBackend::store_kv(hal::vk::Recorder& r, int l, int32_t n, const KvCache& kv) {
  const Hparams& hp = model_.hparams();
  const uint64_t N = uint64_t(n), kvd = uint64_t(hp.kv_dim());
  const KvStorePush p{uint32_t(kvd / 2), uint32_t((kv.v_offset(0, 0) - kv.k_offset(0, 0)) / 4),
                      uint32_t(kv.k_offset(0, l) / 4)};
  return r.dispatch(k_.kv_store,
                    {act(lay_.k, N * kvd * 4), act(lay_.v, N * kvd * 4), table(lay_.slots, N * 4), VkRef(kv_)}, &p,
                    groups(kvd / 2, 64), uint32_t(n));
}

Status VulkanBackend::attend(hal::vk::Recorder& r, int l, int32_t n, const KvCache& kv) {
  const Hparams& hp = model_.hparams();
  const uint64_t N = uint64_t(n), qd = uint64_t(hp.q_dim());
  const size_t block_bytes = kv.k_offset(1, 0) - kv.k_offset(0, 0);
  AttentionPush p{};
  p.head_dim = uint32_t(hp.head_dim);
  p.n_head = uint32_t(hp.n_head);
  p.group = uint32_t(hp.n_head / hp.n_head_kv);
  p.q_dim = uint32_t(qd);
  p.block = uint32_t(kv.block());
  p.block_words = uint32_t(block_bytes / 4);
  p.layer_words = uint32_t(kv.k_offset(0, l) / 4);
  p.v_delta = uint32_t((kv.v_offset(0, 0) - kv.k_offset(0, 0)) / 4);
  p.k_row_words = uint32_t(hp.kv_dim() / 2);
  p.scale = 1.0f / std::sqrt(float(hp.head_dim));
  return r.dispatch(k_.attention,
                    {act(lay_.q, N * qd * 4), VkRef(kv_), table(lay_.rows, N * 20), VkRef(tables_, lay_.blocks, lay_.keep - lay_.blocks),
                     act(lay_.att, N * qd * 4)},
                    &p, uint32_t(hp.n_head), uint32_t(n));
}

}  // namespace airt::model

#endif
