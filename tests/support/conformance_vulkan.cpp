#include "tests/support/conformance_vulkan.h"

#if AIRT_HAVE_VULKAN
#include <algorithm>
#include <cstring>
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

// The key rows are copied into one KV buffer (K rows, then V rows) with a key table over
// them; every query row is one head of its own row and sees a prefix of the keys.
Status VulkanOpBackend::attention(const AttentionArgs& a) {
  const size_t rb = hal::dtype_row_bytes(a.kv_type, a.hd);
  const int32_t n_keys = *std::max_element(a.n_kv, a.n_kv + a.nq);
  std::vector<uint8_t> kv(2 * size_t(n_keys) * rb);
  std::vector<hal::vk::KvKey> keys(static_cast<size_t>(n_keys));
  for (int32_t j = 0; j < n_keys; ++j) {
    std::memcpy(kv.data() + size_t(j) * rb, a.k[j], rb);
    std::memcpy(kv.data() + size_t(n_keys + j) * rb, a.v[j], rb);
    keys[size_t(j)] = {uint32_t(size_t(j) * rb), uint32_t(size_t(n_keys + j) * rb),
                       hal::vk::kv_key_types(a.kv_type, a.kv_type)};
  }
  std::vector<float> q(size_t(a.nq * a.hd));
  std::vector<uint32_t> rows(2 * size_t(a.nq));
  for (int r = 0; r < a.nq; ++r) {
    std::memcpy(q.data() + r * a.hd, a.q[r], size_t(a.hd) * 4);
    rows[2 * size_t(r) + 1] = uint32_t(a.n_kv[r]);
  }
  Buffer qb = AIRT_TRY(buffer(q.data(), q.size() * 4, "q"));
  Buffer kvb = AIRT_TRY(buffer(kv.data(), kv.size(), "kv"));
  Buffer kb = AIRT_TRY(buffer(keys.data(), keys.size() * sizeof(hal::vk::KvKey), "keys"));
  Buffer rowb = AIRT_TRY(buffer(rows.data(), rows.size() * 4, "rows"));
  Buffer out = AIRT_TRY(buffer(nullptr, q.size() * 4, "out"));
  hal::vk::AttentionRefs ar;
  ar.q = qb;
  ar.kv = kvb;
  ar.keys = kb;
  ar.n_keys = n_keys;
  ar.rows = rowb;
  ar.out = out;
  ar.n_rows = a.nq;
  ar.n_head = ar.n_head_kv = 1;
  ar.head_dim = a.hd;
  ar.scale = a.scale;
  AIRT_TRY(start());
  AIRT_TRY(ops_->attention(rec_, ar));
  AIRT_TRY(run());
  AIRT_TRY(out.download(0, q.data(), q.size() * 4));
  for (int r = 0; r < a.nq; ++r) std::memcpy(a.out[r], q.data() + r * a.hd, size_t(a.hd) * 4);
  return ok_status();
}

Status VulkanOpBackend::kv_store(const KvStoreArgs& a) {
  const size_t rb = hal::dtype_row_bytes(a.type, a.n), bytes = size_t(a.rows) * rb;
  std::vector<uint32_t> dst(size_t(a.rows));
  for (int64_t r = 0; r < a.rows; ++r) dst[size_t(r)] = uint32_t(size_t(r) * rb);
  Buffer src = AIRT_TRY(buffer(a.src, uint64_t(a.rows * a.n) * 4, "src"));
  Buffer kv = AIRT_TRY(buffer(a.dst, bytes, "kv"));  // the harness's fill shows stray writes
  Buffer table = AIRT_TRY(buffer(dst.data(), dst.size() * 4, "offsets"));
  hal::vk::KvStoreRefs k;
  k.type = a.type;
  k.src = src;
  k.kv = kv;
  k.dst = table;
  k.rows = a.rows;
  k.n = a.n;
  AIRT_TRY(start());
  AIRT_TRY(ops_->kv_store(rec_, k));
  AIRT_TRY(run());
  return kv.download(0, a.dst, bytes);
}

}  // namespace airt::conformance
#endif
