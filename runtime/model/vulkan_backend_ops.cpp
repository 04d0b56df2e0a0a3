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

// A kernel when its shader is embedded; an empty one (no pipeline) otherwise.
Result<hal::vk::Kernel> optional_kernel(hal::vk::Context& ctx, const std::string& name, uint32_t bindings,
                                        uint32_t push) {
  if (!hal::vk::find_shader(name)) return hal::vk::Kernel();
  return hal::vk::Kernel::create(ctx, name, bindings, push);
}

struct KvStorePush {
  uint32_t half_dim, v_delta, layer_words;
};
struct AttentionPush {
  uint32_t head_dim, n_head, group, q_dim, block, block_words, layer_words, v_delta, k_row_words;
  float scale;
};
struct BiasPush {
  uint32_t n;
};
struct AddPush {
  uint32_t n;
};

}  // namespace

Status VulkanBackend::create_kernels() {
  hal::vk::Context& c = *ctx_;
  for (hal::DType t : kWeightTypes) {
    const std::string tn = hal::dtype_name(t);
    k_.matvec[size_t(t)] = AIRT_TRY(optional_kernel(c, "matvec_" + tn, 3, sizeof(MatPush)));
    k_.matmul[size_t(t)] = AIRT_TRY(optional_kernel(c, "matmul_" + tn, 3, sizeof(MatPush)));
    k_.get_rows[size_t(t)] = AIRT_TRY(optional_kernel(c, "get_rows_" + tn, 3, sizeof(GetRowsPush)));
  }
  k_.rms_norm = AIRT_TRY(optional_kernel(c, "rms_norm", 3, sizeof(NormPush)));
  k_.rope = AIRT_TRY(optional_kernel(c, "rope", 2, sizeof(RopePush)));
  k_.silu_mul = AIRT_TRY(optional_kernel(c, "silu_mul", 3, sizeof(AddPush)));
  k_.add = AIRT_TRY(optional_kernel(c, "add", 3, sizeof(AddPush)));
  k_.add_bias = AIRT_TRY(hal::vk::Kernel::create(c, "attention_qkv_bias", 2, sizeof(BiasPush)));
  k_.kv_store = AIRT_TRY(hal::vk::Kernel::create(c, "attention_kv_store", 4, sizeof(KvStorePush)));
  k_.attention = AIRT_TRY(hal::vk::Kernel::create(c, "attention_paged_f16", 5, sizeof(AttentionPush)));
  return {};
}

bool VulkanBackend::supports(hal::Op op, hal::DType type) const {
  auto has = [](const hal::vk::Kernel& k) { return k.pipeline() != VK_NULL_HANDLE; };
  const size_t t = size_t(type);
  switch (op) {
    case hal::Op::kMatmul: return t < hal::kDTypeCount && has(k_.matvec[t]) && has(k_.matmul[t]);
    case hal::Op::kGetRows: return t < hal::kDTypeCount && has(k_.get_rows[t]);
    case hal::Op::kAttention:
    case hal::Op::kKvStore: return type == hal::DType::kF16;
    case hal::Op::kRmsNorm: return type == hal::DType::kF32 && has(k_.rms_norm);
    case hal::Op::kRope: return type == hal::DType::kF32 && has(k_.rope);
    case hal::Op::kSiluMul: return type == hal::DType::kF32 && has(k_.silu_mul);
    case hal::Op::kAdd: return type == hal::DType::kF32 && has(k_.add);
    default: return false;
  }
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
