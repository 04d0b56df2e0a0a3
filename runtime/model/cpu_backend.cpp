#include "runtime/model/cpu_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "runtime/model/split_backend.h"
#include "runtime/model/vulkan_backend.h"

namespace airt::model {

const char* device_kind_name(DeviceKind d) {
  switch (d) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kIntegratedGpu: return "integrated gpu";
    case DeviceKind::kDiscreteGpu: return "discrete gpu";
    case DeviceKind::kSoftwareGpu: return "software gpu";
  }
  return "?";
}

LayerRange layer_range(const Hparams& hp, const BackendParams& p) {
  return {p.layers.begin, p.layers.end < 0 ? hp.n_layer : p.layers.end};
}

KvSlice kv_slice(const Hparams& hp, const BackendParams& p) {
  const LayerRange r = layer_range(hp, p);
  KvSlice s;
  s.block = KvCache::block_bytes(hp, p.kv);
  s.layer = hp.n_layer > 0 ? s.block / size_t(hp.n_layer) : 0;
  s.begin = r.begin;
  s.end = r.end;
  return s;
}

size_t kv_storage_bytes(const Hparams& hp, const BackendParams& p) {
  return size_t(KvCache::pool_blocks(p.kv)) * kv_slice(hp, p).packed();
}

int32_t device_layers(const Hparams& hp, const BackendParams& p) {
  if (p.kind != governor::BackendKind::kVulkan) return 0;
  return p.gpu_layers < 0 ? hp.n_layer : std::min(p.gpu_layers, hp.n_layer);
}

namespace {

// Which backend a p.kind == vulkan request is: the device alone, a split, or the CPU alone.
enum class Placement { kCpu, kDevice, kSplit };
Placement placement(const Model& m, const BackendParams& p) {
  const int32_t n = device_layers(m.hparams(), p);
  if (p.kind != governor::BackendKind::kVulkan || n == 0) return Placement::kCpu;
  return n < m.hparams().n_layer ? Placement::kSplit : Placement::kDevice;
}

}  // namespace

Status backend_plan(const Model& m, const BackendParams& p, MemoryPlan& plan) {
  if (p.kind == governor::BackendKind::kVulkan) {
    switch (placement(m, p)) {
      case Placement::kDevice: return vulkan_backend_plan(m, p, plan);
      case Placement::kSplit: return SplitBackend::plan_regions(m, p, plan);
      case Placement::kCpu: break;
    }
  } else if (p.kind != governor::BackendKind::kCpu) {
    return errorf(Error::kBackendUnsupported, "backend %s is not built into this airt (use cpu)",
                  governor::backend_kind_name(p.kind));
  }
  CpuBackend::plan_regions(m, p, plan);
  return {};
}

Result<std::unique_ptr<Backend>> backend_create(const Model& m, const BackendParams& p) {
  if (p.kind == governor::BackendKind::kVulkan) {
    switch (placement(m, p)) {
      case Placement::kDevice: return vulkan_backend_create(m, p);
      case Placement::kSplit: return SplitBackend::create(m, p);
      case Placement::kCpu: break;
    }
  } else if (p.kind != governor::BackendKind::kCpu) {
    return errorf(Error::kBackendUnsupported, "backend %s is not built into this airt (use cpu)",
                  governor::backend_kind_name(p.kind));
  }
  return std::unique_ptr<Backend>(AIRT_TRY(CpuBackend::create(m, p)).release());
}

ForwardParams CpuBackend::forward_params(const BackendParams& p) {
  ForwardParams fp;
  fp.n_rows = p.n_rows;
  fp.n_logits = p.n_logits;
  fp.n_threads = p.n_threads;
  fp.max_visible = p.max_visible;
  fp.kernels = p.kernels;
  fp.skip = p.skip;
  fp.layers = p.layers;
  return fp;
}

void CpuBackend::plan_regions(const Model& m, const BackendParams& p, MemoryPlan& plan) {
  const Hparams& hp = m.hparams();
  char d[200];
  std::snprintf(d, sizeof d, "%d blocks x %d positions (%d per sequence), %s, %zu B/position",
                KvCache::pool_blocks(p.kv), p.kv.block, KvCache::blocks_per_seq(p.kv),
                kv_types_name(p.kv.types).c_str(), kv_slice(hp, p).packed() / size_t(p.kv.block));
  plan.add("kv pool", kv_storage_bytes(hp, p), RegionKind::kResident, d);
  Forward::plan(m, forward_params(p), plan);
  if (p.shared_pool || p.shares_pool) return;  // the pool's owner planned its scratch
  std::snprintf(d, sizeof d, "%d x %zu KiB: each thread's packed weight panel", p.n_threads,
                hal::kThreadScratchBytes / 1024);
  plan.add("thread scratch", hal::ThreadPool::scratch_bytes(p.n_threads), RegionKind::kResident, d);
}

CpuBackend::CpuBackend(const Model& m, const BackendParams& p)
    : model_(m), p_(p), kernels_(p.kernels ? p.kernels : &hal::kernels_generic()), forward_(m) {
  p_.kernels = kernels_;
}

Result<std::unique_ptr<CpuBackend>> CpuBackend::create(const Model& m, const BackendParams& p) {
  if (p.n_threads < 1 || p.n_threads > 1024) {
    return errorf(Error::kRequestOutOfRange, "%d threads is out of range (1..1024)", p.n_threads);
  }
  const LayerRange r = layer_range(m.hparams(), p);
  if (r.begin < 0 || r.begin >= r.end || r.end > m.hparams().n_layer) {
    return errorf(Error::kInternal, "cpu backend: layers %d..%d of a %d-layer model", r.begin, r.end,
                  m.hparams().n_layer);
  }
  if (p.shared_pool && p.shared_pool->size() != p.n_threads) {
    return errorf(Error::kInternal, "cpu backend: a shared pool of %d threads for a plan of %d",
                  p.shared_pool->size(), p.n_threads);
  }
  auto b = std::unique_ptr<CpuBackend>(new CpuBackend(m, p));
  if (p.shared_pool) {
    b->pool_ = p.shared_pool;
  } else {
    b->own_pool_ = AIRT_TRY(hal::ThreadPool::create(p.n_threads));
    b->pool_ = b->own_pool_.get();
  }
  b->threads_ = p.n_threads;
  return b;
}

std::string CpuBackend::describe() const {
  char d[96];
  std::snprintf(d, sizeof d, "cpu %s, %d of %d threads", kernels_->isa, threads_, p_.n_threads);
  return d;
}

std::span<float> CpuBackend::hidden_in(int32_t rows) {
  if (p_.layers.begin == 0) return {};
  return forward_.hidden(rows);
}

std::span<const float> CpuBackend::hidden_out(int32_t rows) const {
  if (layer_range(model_.hparams(), p_).end == model_.hparams().n_layer) return {};
  return forward_.hidden(rows);
}

bool CpuBackend::supports(hal::Op op, hal::DType type) const {
  switch (op) {
    case hal::Op::kMatmul: return kernels_->supports_matmul(type);
    case hal::Op::kGetRows: return kernels_->of(type).to_float != nullptr;
    case hal::Op::kAttention:
    case hal::Op::kKvStore: return kv_type_supported(type);
    default: return type == hal::DType::kF32;
  }
}

Status CpuBackend::carve(Arena& arena) {
  kv_bytes_ = kv_storage_bytes(model_.hparams(), p_);
  kv_ = static_cast<uint8_t*>(arena.alloc(kv_bytes_));
  if (!kv_ && kv_bytes_) return errorf(Error::kInternal, "cpu backend: the arena is smaller than its plan");
  forward_.set_kv_storage(kv_, kv_slice(model_.hparams(), p_));
  AIRT_TRY(forward_.carve(arena, forward_params(p_)));
  if (!own_pool_) return {};
  const size_t scratch = hal::ThreadPool::scratch_bytes(p_.n_threads);
  void* mem = arena.alloc(scratch);
  if (!mem) return errorf(Error::kInternal, "cpu backend: the arena is smaller than its plan");
  return pool_->attach_scratch(mem, scratch);
}

Status CpuBackend::bind(const Model& m) {
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    for (const gguf::TensorInfo& ti : m.tier(t).file->tensors()) {
      if (ti.ne[1] > 1 && !supports(hal::Op::kMatmul, ti.type)) {
        return errorf(Error::kFormatUnsupported, "%s: tensor %.*s is %s, which the cpu backend (%s) cannot multiply",
                      m.tier(t).file->path().c_str(), int(ti.name.size()), ti.name.data(), hal::dtype_name(ti.type),
                      kernels_->isa);
      }
    }
  }
  return {};
}

Status CpuBackend::eval(const Batch& b, const KvCache& kv) {
  forward_.eval(b, kv, pool_);
  return {};
}

Status CpuBackend::set_tier(int32_t tier) {
  if (tier < 0 || tier >= model_.n_tiers()) {
    return errorf(Error::kRequestOutOfRange, "weight tier %d: the model has %d", tier, model_.n_tiers());
  }
  tier_ = tier;
  const std::vector<Weights>* own = p_.tier_weights;
  forward_.set_weights(own && size_t(tier) < own->size() ? (*own)[size_t(tier)] : model_.tier(tier).weights);
  return {};
}

Status CpuBackend::set_threads(int32_t n) {
  if (n < 1 || n > p_.n_threads) {
    return errorf(Error::kRequestOutOfRange, "%d threads: the plan has %d (1..%d)", n, p_.n_threads, p_.n_threads);
  }
  threads_ = n;
  if (own_pool_) own_pool_->set_active(n);
  return {};
}

Status CpuBackend::kv_read(size_t offset, void* dst, size_t bytes) const {
  if (offset > kv_bytes_ || bytes > kv_bytes_ - offset) {
    return errorf(Error::kInternal, "kv read of %zu bytes at %zu outside the %zu-byte pool", bytes, offset, kv_bytes_);
  }
  std::memcpy(dst, kv_ + offset, bytes);
  return {};
}

Status CpuBackend::kv_write(size_t offset, const void* src, size_t bytes) {
  if (offset > kv_bytes_ || bytes > kv_bytes_ - offset) {
    return errorf(Error::kInternal, "kv write of %zu bytes at %zu outside the %zu-byte pool", bytes, offset, kv_bytes_);
  }
  std::memcpy(kv_ + offset, src, bytes);
  return {};
}

}  // namespace airt::model
