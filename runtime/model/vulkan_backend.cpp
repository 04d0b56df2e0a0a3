#include "runtime/model/vulkan_backend.h"

#if AIRT_HAVE_VULKAN

#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cstdio>
#include <cstring>

#include "runtime/core/log.h"
#include "runtime/model/vulkan_backend_impl.h"

namespace airt::model {
namespace {

// Binding offsets must be multiples of the device's alignment; 256 covers every device.
constexpr uint64_t kAlign = 256;

uint64_t up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Every distinct weight tensor of a tier (a tied output is the embedding) that layers
// r.begin..r.end-1 use: the embeddings only from layer 0 (a split pass's device part
// starts later); the output head always (the device runs the last layers).
std::vector<const WeightTensor*> tensors_of(const Weights& w, LayerRange r) {
  std::vector<const WeightTensor*> t = {&w.output_norm, &w.output};
  if (r.begin == 0) t.insert(t.begin(), &w.token_embd);
  for (const LayerWeights& l : std::span(w.layers).subspan(size_t(r.begin), size_t(r.end - r.begin)))
    for (const WeightTensor* x : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.bq, &l.bk, &l.bv, &l.wo, &l.ffn_norm,
                                  &l.w_gate, &l.w_up, &l.w_down})
      t.push_back(x);
  std::vector<const WeightTensor*> out;
  for (const WeightTensor* x : t) {
    if (!x->data) continue;
    bool seen = false;
    for (const WeightTensor* o : out) seen = seen || o->data == x->data;
    if (!seen) out.push_back(x);
  }
  return out;
}

uint64_t tensor_bytes(const WeightTensor& w) { return uint64_t(w.row_bytes) * uint64_t(std::max<int64_t>(w.rows, 1)); }

uint64_t tier_bytes(const Weights& w, LayerRange r) {
  uint64_t total = 0;
  for (const WeightTensor* t : tensors_of(w, r)) total += up(tensor_bytes(*t), kAlign);
  return total;
}

// One tier's tensors as a single range of its file's mapping that the device can import:
// [base, base + bytes), both multiples of the device's import alignment. why_not says why
// the tier is copied instead (empty: importable).
struct ImportRange {
  const uint8_t* base = nullptr;
  uint64_t bytes = 0;
  std::string why_not;
};

uint64_t down(uint64_t v, uint64_t a) { return v / a * a; }

std::string no_import_reason(const hal::vk::DeviceInfo& d, hal::vk::Features on) {
  if (on & hal::vk::kFeatureHostImport) return {};
  if (!d.host_import) return d.name + " has no VK_EXT_external_memory_host";
  if (d.features() & hal::vk::kFeatureHostImport) return "host import masked";
  return d.name + " is a discrete card: its own memory is faster than host memory over the bus";
}

ImportRange import_range(const Tier& tier, const hal::vk::DeviceInfo& d, hal::vk::Features on) {
  ImportRange r;
  r.why_not = no_import_reason(d, on);
  // The whole tier: a superset of any layer range, and mapped either way.
  const std::vector<const WeightTensor*> ts =
      tensors_of(tier.weights, LayerRange{0, int32_t(tier.weights.layers.size())});
  const gguf::File& f = *tier.file;
  if (!r.why_not.empty() || ts.empty() || f.tensors().empty()) return r;
  // The mapping's first byte, from any tensor's place in it; mmap maps whole pages.
  const gguf::TensorInfo& t0 = f.tensors()[0];
  const uintptr_t map_lo = uintptr_t(t0.data) - f.data_offset() - t0.offset;
  const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  const uintptr_t map_hi = map_lo + up(f.file_bytes(), page);
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (const WeightTensor* t : ts) {
    lo = std::min(lo, uintptr_t(t->data));
    hi = std::max(hi, uintptr_t(t->data) + up(tensor_bytes(*t), 4));
  }
  const uint64_t a = std::max<uint64_t>(d.min_import_alignment, 4);
  lo = down(lo, a), hi = up(hi, a);
  if (lo < map_lo || hi > map_hi) {
    r.why_not = f.path() + "'s mapping is not aligned to " + std::to_string(a) + "-byte import units";
    return r;
  }
  const uint64_t so = std::max<uint64_t>(d.min_storage_offset_alignment, 4);
  for (const WeightTensor* t : ts) {
    if ((uintptr_t(t->data) - lo) % so == 0) continue;
    r.why_not = "tensor " + std::string(t->name) + " of " + f.path() + " is not aligned to " + d.name + "'s " +
                std::to_string(so) + "-byte storage offsets";
    return r;
  }
  r.base = reinterpret_cast<const uint8_t*>(lo);
  r.bytes = hi - lo;
  return r;
}

// The device plan_regions() predicts for p (as Context::create would open), and the
// features it would have; null when there is none to ask.
std::optional<hal::vk::DeviceInfo> planned_device(const BackendParams& p) {
  auto devs = hal::vk::enumerate_devices();
  if (!devs.ok() || devs->empty()) return std::nullopt;
  const int i = p.gpu >= 0 ? p.gpu : hal::vk::best_device(*devs);
  if (i < 0 || size_t(i) >= devs->size()) return std::nullopt;
  return (*devs)[size_t(i)];
}

Result<hal::vk::Buffer> buffer(hal::vk::Context& ctx, uint64_t bytes, hal::vk::MemoryKind kind, const char* name) {
  auto b = hal::vk::Buffer::create(ctx, bytes, kind, name);
  if (!b.ok()) {
    return errorf(b.error().code, "%s (the vulkan backend's %s, %llu bytes)", b.error().message.c_str(), name,
                  static_cast<unsigned long long>(bytes));
  }
  return std::move(*b);
}

}  // namespace

VulkanBackend::Layout VulkanBackend::layout(const Model& m, const BackendParams& p, uint64_t align) {
  const Hparams& hp = m.hparams();
  const uint64_t R = uint64_t(p.n_rows), L = uint64_t(p.n_logits), f = sizeof(float);
  Layout l{};
  uint64_t at = 0;
  auto take = [&](uint64_t bytes) {
    const uint64_t o = at;
    at += up(std::max<uint64_t>(bytes, 4), align);
    return o;
  };
  l.x = take(R * uint64_t(hp.dim) * f);
  l.xn = take(R * uint64_t(hp.dim) * f);
  l.q = take(R * uint64_t(hp.q_dim()) * f);
  l.k = take(R * uint64_t(hp.kv_dim()) * f);
  l.v = take(R * uint64_t(hp.kv_dim()) * f);
  l.att = take(R * uint64_t(hp.q_dim()) * f);
  l.tmp = take(R * uint64_t(hp.dim) * f);
  l.gate = take(R * uint64_t(hp.n_ff) * f);
  l.up = take(R * uint64_t(hp.n_ff) * f);
  l.xo = take(L * uint64_t(hp.dim) * f);
  uint64_t scratch = 0;  // quantized activations of the largest product
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    for (const WeightTensor* w : tensors_of(m.tier(t).weights, layer_range(hp, p))) {
      if (w->rows <= 1) continue;
      const uint64_t n = w == &m.tier(t).weights.output ? L : R;
      scratch = std::max(scratch, hal::vk::Ops::matmul_scratch_bytes(w->type, w->cols, int64_t(n)));
    }
  }
  l.scratch = take(scratch);
  l.bytes = at;
  at = 0;
  const uint64_t i4 = sizeof(int32_t);
  // Rows of one sequence share its key list unless a window makes their visible sets differ.
  const uint64_t lists = p.kv.window > 0 ? R : uint64_t(std::min(p.n_rows, std::max(p.kv.n_seq, 1)));
  l.n_keys = lists * uint64_t(p.max_visible);
  l.tokens = take(R * i4);
  l.rope = take(R * uint64_t(hp.n_rot) * f);
  l.k_slots = take(R * i4);
  l.v_slots = take(R * i4);
  l.rows = take(R * 2 * i4);
  l.keys = take(l.n_keys * sizeof(hal::vk::KvKey));
  l.keep = take(L * i4);
  l.input = take(p.layers.begin > 0 ? R * uint64_t(hp.dim) * f : 0);
  l.tables = at;
  return l;
}

void VulkanBackend::plan_regions(const Model& m, const BackendParams& p, MemoryPlan& plan) {
  const std::optional<hal::vk::DeviceInfo> dev = planned_device(p);
  std::vector<std::string> why(size_t(m.n_tiers()), "no Vulkan device to ask");
  for (int32_t t = 0; t < m.n_tiers() && dev; ++t) {
    const hal::vk::Features on = dev->features() & hal::vk::kFeatureAll & ~p.masked;
    why[size_t(t)] = import_range(m.tier(t), *dev, on).why_not;
  }
  add_regions(m, p, why, plan);
}

void VulkanBackend::plan(MemoryPlan& plan) const {
  if (weights_.size() != size_t(model_.n_tiers())) return plan_regions(model_, p_, plan);
  std::vector<std::string> why;
  for (int32_t t = 0; t < model_.n_tiers(); ++t) {
    if (weights_[size_t(t)].imported()) {
      why.emplace_back();
      continue;
    }
    why.push_back(import_range(model_.tier(t), ctx_->info(), ctx_->features()).why_not);
    if (why.back().empty()) why.back() = "the import failed at bind, as logged";
  }
  add_regions(model_, p_, why, plan);
}

void VulkanBackend::add_regions(const Model& m, const BackendParams& p, const std::vector<std::string>& copy_why,
                                MemoryPlan& plan) {
  const Hparams& hp = m.hparams();
  char d[512];
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    const std::string name = std::string("vulkan weights ") + m.tier_name(t);
    if (copy_why[size_t(t)].empty()) {
      // The bytes are the mapped weights' region already counted: none of its own.
      std::snprintf(d, sizeof d, "%s of %s's mapping imported in place, no copy",
                    format_bytes(tier_bytes(m.tier(t).weights, layer_range(hp, p))).c_str(),
                    m.tier(t).file->path().c_str());
      plan.add(name, 0, RegionKind::kMapped, d);
    } else {
      std::snprintf(d, sizeof d, "a copy of %s, uploaded once (%s)", m.tier(t).file->path().c_str(),
                    copy_why[size_t(t)].c_str());
      plan.add(name, tier_bytes(m.tier(t).weights, layer_range(hp, p)), RegionKind::kDevice, d);
    }
  }
  std::snprintf(d, sizeof d, "%d blocks x %d positions, %s", KvCache::pool_blocks(p.kv), p.kv.block,
                kv_types_name(p.kv.types).c_str());
  plan.add("vulkan kv pool", kv_storage_bytes(hp, p), RegionKind::kDevice, d);
  const Layout l = layout(m, p, kAlign);
  std::snprintf(d, sizeof d, "%d rows", p.n_rows);
  plan.add("vulkan activations", l.bytes, RegionKind::kDevice, d);
  plan.add("vulkan step tables", l.tables, RegionKind::kDevice, "tokens, rope angles, kv slots, key lists; host-visible");
  std::snprintf(d, sizeof d, "%d x %d, host-visible", p.n_logits, hp.n_vocab);
  plan.add("vulkan logits", uint64_t(p.n_logits) * uint64_t(hp.n_vocab) * sizeof(float), RegionKind::kDevice, d);
}

Result<std::unique_ptr<VulkanBackend>> VulkanBackend::create(const Model& m, const BackendParams& p) {
  if (p.n_rows < 1 || p.n_logits < 1 || p.n_logits > p.n_rows) {
    return errorf(Error::kRequestOutOfRange, "vulkan backend: rows %d, logits %d out of range", p.n_rows, p.n_logits);
  }
  auto b = std::unique_ptr<VulkanBackend>(new VulkanBackend(m, p));
  b->ctx_ = AIRT_TRY(hal::vk::Context::create(p.gpu, hal::vk::kFeatureAll & ~p.masked));
  const Hparams& hp = m.hparams();
  const hal::vk::DeviceInfo& di = b->ctx_->info();
  if (hp.head_dim > 256 || hp.head_dim % 2 || hp.kv_dim() % 2) {
    return errorf(Error::kBackendUnsupported, "vulkan: %s: head size %d is not supported (even, up to 256)",
                  di.name.c_str(), hp.head_dim);
  }
  if (!hal::vk::Ops::supports(hal::Op::kKvStore, p.kv.types.k) || !hal::vk::Ops::supports(hal::Op::kKvStore, p.kv.types.v)) {
    return errorf(Error::kBackendUnsupported, "vulkan: %s: no shader for a %s KV cache (use --kv-type f16 or --backend cpu)",
                  di.name.c_str(), kv_types_name(p.kv.types).c_str());
  }
  if (kv_storage_bytes(hp, p) >= (uint64_t(1) << 32)) {
    return errorf(Error::kBackendUnsupported, "vulkan: %s: a KV pool of %s is over the 4 GiB the device tables address "
                  "(use a smaller --ctx or --kv-type q8_0)", di.name.c_str(),
                  format_bytes(kv_storage_bytes(hp, p)).c_str());
  }
  if (di.min_storage_offset_alignment > kAlign) {
    return errorf(Error::kBackendUnsupported, "vulkan: %s: storage offsets aligned to %llu bytes (airt places at %llu)",
                  di.name.c_str(), static_cast<unsigned long long>(di.min_storage_offset_alignment),
                  static_cast<unsigned long long>(kAlign));
  }
  b->ops_ = std::make_unique<hal::vk::Ops>(*b->ctx_);
  AIRT_TRY(b->create_kernels());
  return b;
}

DeviceKind VulkanBackend::device() const {
  switch (ctx_->info().type) {
    case hal::vk::DeviceType::kDiscrete: return DeviceKind::kDiscreteGpu;
    case hal::vk::DeviceType::kCpu: return DeviceKind::kSoftwareGpu;
    default: return DeviceKind::kIntegratedGpu;
  }
}

std::string VulkanBackend::describe() const {
  const hal::vk::DeviceInfo& d = ctx_->info();
  return "vulkan " + d.name + " (" + d.driver_name + ", " + hal::vk::device_type_name(d.type) + "; " +
         hal::vk::features_name(ctx_->features()) + ")";
}

Status VulkanBackend::bind(const Model& m) {
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    for (const WeightTensor* w : tensors_of(m.tier(t).weights, range())) {
      const bool matrix = w->rows > 1;
      if (matrix && !supports(hal::Op::kMatmul, w->type)) {
        return errorf(Error::kFormatUnsupported, "vulkan: %s: tensor %.*s is %s, which %s has no shader for",
                      m.tier(t).file->path().c_str(), int(w->name.size()), w->name.data(), hal::dtype_name(w->type),
                      ctx_->info().name.c_str());
      }
    }
    if (range().begin == 0 && !supports(hal::Op::kGetRows, m.tier(t).weights.token_embd.type)) {
      return errorf(Error::kFormatUnsupported, "vulkan: %s: no embedding lookup for %s on %s",
                    m.tier(t).file->path().c_str(), hal::dtype_name(m.tier(t).weights.token_embd.type),
                    ctx_->info().name.c_str());
    }
  }
  weights_.clear();
  weight_at_.assign(size_t(m.n_tiers()), {});
  for (int32_t t = 0; t < m.n_tiers(); ++t) AIRT_TRY(upload_tier(t));
  return {};
}

Status VulkanBackend::upload_tier(int32_t t) {
  const Weights& w = model_.tier(t).weights;
  const std::string name = std::string("weights ") + model_.tier_name(t);
  const ImportRange ir = import_range(model_.tier(t), ctx_->info(), ctx_->features());
  if (ir.why_not.empty()) {
    auto b = hal::vk::Buffer::import_host(*ctx_, ir.base, ir.bytes, name.c_str());
    if (b.ok()) {
      weights_.push_back(std::move(*b));
      for (const WeightTensor* x : tensors_of(w, range()))
        weight_at_[size_t(t)][x->data] = uint64_t(static_cast<const uint8_t*>(x->data) - ir.base);
      return {};
    }
    AIRT_LOG_WARN("vulkan: %s: importing %s's mapping failed (%s); copying the weights to device memory instead",
                  ctx_->info().name.c_str(), model_.tier(t).file->path().c_str(), b.error().message.c_str());
  }
  weights_.push_back(AIRT_TRY(buffer(*ctx_, tier_bytes(w, range()), hal::vk::MemoryKind::kDevice, name.c_str())));
  hal::vk::Buffer& b = weights_.back();
  uint64_t at = 0;
  for (const WeightTensor* x : tensors_of(w, range())) {
    const uint64_t n = tensor_bytes(*x);
    AIRT_TRY(b.upload(at, x->data, n));
    weight_at_[size_t(t)][x->data] = at;
    at += up(n, kAlign);
  }
  return {};
}

VkRef VulkanBackend::weight(const WeightTensor& w) const {
  const auto& at = weight_at_[size_t(tier_)];
  auto it = at.find(w.data);
  AIRT_DCHECK(it != at.end());
  return VkRef(weights_[size_t(tier_)], it->second, tensor_bytes(w));
}

Status VulkanBackend::carve(Arena& arena) {
  (void)arena;  // every region is device memory
  const Hparams& hp = model_.hparams();
  lay_ = layout(model_, p_, kAlign);
  kv_bytes_ = kv_storage_bytes(hp, p_);
  kv_ = AIRT_TRY(buffer(*ctx_, kv_bytes_, hal::vk::MemoryKind::kDevice, "kv pool"));
  act_ = AIRT_TRY(buffer(*ctx_, lay_.bytes, hal::vk::MemoryKind::kDevice, "activations"));
  tables_ = AIRT_TRY(buffer(*ctx_, lay_.tables, hal::vk::MemoryKind::kHost, "step tables"));
  key_pos_.assign(size_t(lay_.n_keys), 0);
  runs_.reserve(size_t(p_.n_rows));
  logits_ = AIRT_TRY(buffer(*ctx_, uint64_t(p_.n_logits) * uint64_t(hp.n_vocab) * sizeof(float),
                            hal::vk::MemoryKind::kHost, "logits"));
  if (!tables_.mapped() || !logits_.mapped()) {
    return errorf(Error::kBackendUnsupported, "vulkan: %s: host-visible memory could not be mapped",
                  ctx_->info().name.c_str());
  }
  return {};
}

std::span<const float> VulkanBackend::logits(int32_t i) const {
  const size_t nv = size_t(model_.hparams().n_vocab);
  return {static_cast<const float*>(logits_.mapped()) + size_t(i) * nv, nv};
}

Status VulkanBackend::set_tier(int32_t tier) {
  if (tier < 0 || tier >= model_.n_tiers()) {
    return errorf(Error::kRequestOutOfRange, "weight tier %d: the model has %d", tier, model_.n_tiers());
  }
  tier_ = tier;
  return {};
}

Status VulkanBackend::set_threads(int32_t n) {
  if (n != 1) return errorf(Error::kRequestOutOfRange, "%d threads: the vulkan backend runs on its device (1)", n);
  return {};
}

Status VulkanBackend::kv_read(size_t offset, void* dst, size_t bytes) const {
  if (offset > kv_bytes_ || bytes > kv_bytes_ - offset) {
    return errorf(Error::kInternal, "kv read of %zu bytes at %zu outside the %zu-byte pool", bytes, offset, kv_bytes_);
  }
  return kv_.download(offset, dst, bytes);
}

Status VulkanBackend::kv_write(size_t offset, const void* src, size_t bytes) {
  if (offset > kv_bytes_ || bytes > kv_bytes_ - offset) {
    return errorf(Error::kInternal, "kv write of %zu bytes at %zu outside the %zu-byte pool", bytes, offset, kv_bytes_);
  }
  return kv_.upload(offset, src, bytes);
}

Status vulkan_backend_plan(const Model& m, const BackendParams& p, MemoryPlan& plan) {
  VulkanBackend::plan_regions(m, p, plan);
  return {};
}

Result<std::unique_ptr<Backend>> vulkan_backend_create(const Model& m, const BackendParams& p) {
  return std::unique_ptr<Backend>(AIRT_TRY(VulkanBackend::create(m, p)).release());
}

std::vector<VulkanCandidate> vulkan_candidates(int32_t gpu, std::vector<std::string>& notes) {
  std::vector<VulkanCandidate> out;
  auto devs = hal::vk::enumerate_devices();
  if (!devs.ok()) {
    notes.push_back("vulkan: " + devs.error().message);
    return out;
  }
  if (devs->empty()) notes.push_back("vulkan: no Vulkan device");
  for (const hal::vk::DeviceInfo& d : *devs) {
    if (gpu >= 0 && d.index != gpu) continue;
    const std::string why = hal::vk::auto_skip_reason(d);
    if (!why.empty()) notes.push_back("vulkan: " + why);
    else out.push_back({d.index, d.name});
  }
  return out;
}

}  // namespace airt::model

#else  // built without Vulkan

namespace airt::model {

Status vulkan_backend_plan(const Model&, const BackendParams&, MemoryPlan&) {
  return errorf(Error::kBackendUnsupported, "vulkan: this airt was built without Vulkan (use --backend cpu)");
}

Result<std::unique_ptr<Backend>> vulkan_backend_create(const Model&, const BackendParams&) {
  return errorf(Error::kBackendUnsupported, "vulkan: this airt was built without Vulkan (use --backend cpu)");
}

std::vector<VulkanCandidate> vulkan_candidates(int32_t, std::vector<std::string>& notes) {
  notes.push_back("vulkan: built without Vulkan");
  return {};
}

}  // namespace airt::model

#endif
