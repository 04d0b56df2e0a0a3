#include "tests/support/conformance_vulkan.h"

#if AIRT_HAVE_VULKAN
#include <vector>

namespace airt::conformance {

using hal::DType;
using hal::Op;
using hal::vk::Buffer;
using hal::vk::MemoryKind;

Result<std::unique_ptr<VulkanOpBackend>> VulkanOpBackend::create(int gpu, hal::vk::Features mask) {
  std::unique_ptr<VulkanOpBackend> b(new VulkanOpBackend());
  b->ctx_ = AIRT_TRY(hal::vk::Context::create(gpu, mask));
  b->ops_ = std::make_unique<hal::vk::Ops>(*b->ctx_);
  b->rec_ = AIRT_TRY(hal::vk::Recorder::create(*b->ctx_));
  return b;
}

std::string VulkanOpBackend::name() const {
  return "vulkan (" + ctx_->info().name + "; " + hal::vk::features_name(ctx_->features()) + ")";
}

bool VulkanOpBackend::supports(Op op, DType type) const { return hal::vk::Ops::supports(op, type); }

Result<Buffer> VulkanOpBackend::buffer(const void* src, uint64_t bytes, const char* name) {
  Buffer b = AIRT_TRY(Buffer::create(*ctx_, bytes, MemoryKind::kDevice, name));
  if (src) AIRT_TRY(b.upload(0, src, bytes));
  return b;
}

Status VulkanOpBackend::start() { return rec_.begin(); }

Status VulkanOpBackend::run() {
  AIRT_TRY(rec_.end());
  return rec_.submit_and_wait();
}

Status VulkanOpBackend::matmul(const MatmulArgs& a) {
  const uint64_t out_bytes = uint64_t(a.n * a.rows) * 4;
  Buffer w = AIRT_TRY(buffer(a.w, a.row_bytes * uint64_t(a.rows), "weights"));
  Buffer x = AIRT_TRY(buffer(a.x, uint64_t(a.n * a.k) * 4, "x"));
  Buffer out = AIRT_TRY(buffer(nullptr, out_bytes, "out"));
  Buffer scratch = AIRT_TRY(buffer(nullptr, hal::vk::Ops::matmul_scratch_bytes(a.type, a.k, a.n), "scratch"));
  hal::vk::MatmulRefs m;
  m.type = a.type;
  m.k = a.k;
  m.rows = a.rows;
  m.n = a.n;
  m.w = w;
  m.row_bytes = a.row_bytes;
  m.x = x;
  m.out = out;
  m.scratch = scratch;
  AIRT_TRY(start());
  AIRT_TRY(ops_->matmul(rec_, m));
  AIRT_TRY(run());
  return out.download(0, a.out, out_bytes);
}

Status VulkanOpBackend::get_rows(const GetRowsArgs& a) {
  int32_t max_id = 0;
  for (int64_t i = 0; i < a.n; ++i) max_id = a.ids[i] > max_id ? a.ids[i] : max_id;
  Buffer w = AIRT_TRY(buffer(a.w, a.row_bytes * uint64_t(max_id + 1), "weights"));
  Buffer ids = AIRT_TRY(buffer(a.ids, uint64_t(a.n) * 4, "ids"));
  Buffer out = AIRT_TRY(buffer(nullptr, uint64_t(a.n * a.k) * 4, "out"));
  AIRT_TRY(start());
  AIRT_TRY(ops_->get_rows(rec_, a.type, a.k, w, a.row_bytes, ids, a.n, out));
  AIRT_TRY(run());
  return out.download(0, a.out, uint64_t(a.n * a.k) * 4);
}

Status VulkanOpBackend::rms_norm(const RmsNormArgs& a) {
  const uint64_t bytes = uint64_t(a.rows * a.n) * 4;
  Buffer x = AIRT_TRY(buffer(a.x, bytes, "x"));
  Buffer w = AIRT_TRY(buffer(a.w, uint64_t(a.n) * 4, "weight"));
  Buffer y = AIRT_TRY(buffer(nullptr, bytes, "y"));
  AIRT_TRY(start());
  AIRT_TRY(ops_->rms_norm(rec_, x, w, y, a.rows, a.n, a.eps));
  AIRT_TRY(run());
  return y.download(0, a.y, bytes);
}

Status VulkanOpBackend::rope(const RopeArgs& a) {
  const uint64_t bytes = uint64_t(a.n_heads * a.head_dim) * 4;
  std::vector<float> table(size_t(a.n_heads * a.n_rot));
  hal::vk::rope_table(a.pos, a.n_heads, a.n_rot, a.freq_base, a.freq_scale, table.data());
  Buffer x = AIRT_TRY(buffer(a.x, bytes, "x"));
  Buffer t = AIRT_TRY(buffer(table.data(), table.size() * 4, "rope table"));
  hal::vk::RopeRefs r;
  r.x = x;
  r.table = t;
  r.n_heads = a.n_heads;
  r.head_dim = a.head_dim;
  r.n_rot = a.n_rot;
  r.neox = a.neox;
  AIRT_TRY(start());
  AIRT_TRY(ops_->rope(rec_, r));
  AIRT_TRY(run());
  return x.download(0, a.x, bytes);
}

Status VulkanOpBackend::softmax(const SoftmaxArgs& a) {
  const uint64_t bytes = uint64_t(a.rows * a.n) * 4;
  Buffer x = AIRT_TRY(buffer(a.x, bytes, "x"));
  AIRT_TRY(start());
  AIRT_TRY(ops_->softmax(rec_, x, a.rows, a.n));
  AIRT_TRY(run());
  return x.download(0, a.x, bytes);
}

Status VulkanOpBackend::silu_mul(const SiluMulArgs& a) {
  const uint64_t bytes = uint64_t(a.n) * 4;
  Buffer g = AIRT_TRY(buffer(a.gate, bytes, "gate"));
  Buffer u = AIRT_TRY(buffer(a.up, bytes, "up"));
  Buffer o = AIRT_TRY(buffer(nullptr, bytes, "out"));
  AIRT_TRY(start());
  AIRT_TRY(ops_->silu_mul(rec_, g, u, o, a.n));
  AIRT_TRY(run());
  return o.download(0, a.out, bytes);
}

Status VulkanOpBackend::add(const AddArgs& a) {
  const uint64_t bytes = uint64_t(a.n) * 4;
  Buffer x = AIRT_TRY(buffer(a.a, bytes, "a"));
  Buffer y = AIRT_TRY(buffer(a.b, bytes, "b"));
  Buffer o = AIRT_TRY(buffer(nullptr, bytes, "out"));
  AIRT_TRY(start());
  AIRT_TRY(ops_->add(rec_, x, y, o, a.n));
  AIRT_TRY(run());
  return o.download(0, a.out, bytes);
}

Status VulkanOpBackend::attention(const AttentionArgs&) {
  return errorf(Error::kBackendUnsupported, "vulkan: attention is not in this conformance backend yet");
}

Status VulkanOpBackend::kv_store(const KvStoreArgs&) {
  return errorf(Error::kBackendUnsupported, "vulkan: kv_store is not in this conformance backend yet");
}

}  // namespace airt::conformance
#endif
