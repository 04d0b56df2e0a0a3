#include "runtime/model/split_backend.h"

#include <cstdio>
#include <cstring>

#include "runtime/model/cpu_backend.h"
#include "runtime/model/vulkan_backend.h"

namespace airt::model {
namespace {

// The params of the part running layers [begin, end) on `kind`.
BackendParams part_params(const BackendParams& p, governor::BackendKind kind, int32_t begin, int32_t end) {
  BackendParams q = p;
  q.kind = kind;
  q.gpu_layers = -1;
  q.layers = {begin, end};
  return q;
}

// Adds `part`'s regions to `plan`, each detail naming the layers the part holds.
void add_part(const MemoryPlan& part, const char* layers, MemoryPlan& plan) {
  for (const Region& r : part.regions()) {
    plan.add(r.name, r.bytes, r.kind, r.detail.empty() ? std::string(layers) : r.detail + "; " + layers);
  }
}

}  // namespace

Status SplitBackend::plan_regions(const Model& m, const BackendParams& p, MemoryPlan& plan) {
  const int32_t n = m.hparams().n_layer, split = n - device_layers(m.hparams(), p);
  char what[96];
  MemoryPlan cpu, dev;
  CpuBackend::plan_regions(m, part_params(p, governor::BackendKind::kCpu, 0, split), cpu);
  AIRT_TRY(vulkan_backend_plan(m, part_params(p, governor::BackendKind::kVulkan, split, n), dev));
  std::snprintf(what, sizeof what, "cpu part: embeddings, layers 0..%d", split - 1);
  add_part(cpu, what, plan);
  std::snprintf(what, sizeof what, "device part: layers %d..%d, output head", split, n - 1);
  add_part(dev, what, plan);
  return {};
}

Result<std::unique_ptr<Backend>> SplitBackend::create(const Model& m, const BackendParams& p) {
  const Hparams& hp = m.hparams();
  const int32_t n = hp.n_layer, split = n - device_layers(hp, p);
  if (split <= 0 || split >= n) {
    return errorf(Error::kInternal, "split backend: %d device layers of %d leave no layer to split", n - split, n);
  }
  auto b = std::unique_ptr<SplitBackend>(new SplitBackend(m, p, split));
  // The device first: a missing device or feature fails before any thread starts.
  const BackendParams dev = part_params(p, governor::BackendKind::kVulkan, split, n);
  const BackendParams cpu = part_params(p, governor::BackendKind::kCpu, 0, split);
  b->last_ = AIRT_TRY(vulkan_backend_create(m, dev));
  b->first_ = std::unique_ptr<Backend>(AIRT_TRY(CpuBackend::create(m, cpu)).release());
  b->first_kv_ = kv_slice(hp, cpu);
  b->last_kv_ = kv_slice(hp, dev);
  b->whole_kv_ = kv_slice(hp, part_params(p, governor::BackendKind::kCpu, 0, n));
  return std::unique_ptr<Backend>(b.release());
}

std::string SplitBackend::describe() const {
  char d[96];
  std::snprintf(d, sizeof d, ": layers %d..%d + output head; ", split_, model_.hparams().n_layer - 1);
  std::string s = last_->describe() + d + first_->describe();
  std::snprintf(d, sizeof d, ": embeddings + layers 0..%d", split_ - 1);
  return s + d;
}

Status SplitBackend::carve(Arena& arena) {
  AIRT_TRY(first_->carve(arena));
  AIRT_TRY(last_->carve(arena));
  if (last_->hidden_in(1).size() != size_t(model_.hparams().dim) || first_->hidden_out(1).empty()) {
    return errorf(Error::kInternal, "split backend: no residual stream handed over at layer %d", split_);
  }
  return {};
}

Status SplitBackend::bind(const Model& m) {
  AIRT_TRY(first_->bind(m));
  return last_->bind(m);
}

Status SplitBackend::eval(const Batch& b, const KvCache& kv) {
  const int32_t n = int32_t(b.token.size()), nl = int32_t(b.logits.size());
  if (n < 1 || n > p_.n_rows || nl > p_.n_logits) {
    return errorf(Error::kRequestOutOfRange, "split backend: a batch of %d rows keeping %d (the plan: %d, %d)", n, nl,
                  p_.n_rows, p_.n_logits);
  }
  AIRT_TRY(first_->eval(b, kv));
  // The hand-off: the CPU part's residual stream into the device's mapped input.
  const std::span<const float> out = first_->hidden_out(n);
  const std::span<float> in = last_->hidden_in(n);
  if (out.size() != in.size() || out.empty()) {
    return errorf(Error::kInternal, "split backend: %zu floats handed to a part taking %zu", out.size(), in.size());
  }
  std::memcpy(in.data(), out.data(), out.size_bytes());
  return last_->eval(b, kv);
}

Status SplitBackend::set_tier(int32_t tier) {
  AIRT_TRY(first_->set_tier(tier));
  return last_->set_tier(tier);
}

// A cache offset (and a run of bytes from it, which must stay inside one layer of one
// block, as the cache's K and V rows do) in the storage of the part holding that layer.
Result<size_t> SplitBackend::part_offset(size_t offset, size_t bytes) const {
  const size_t last = offset + (bytes ? bytes - 1 : 0);
  if (last < offset || offset / whole_kv_.block != last / whole_kv_.block ||
      whole_kv_.layer_of(offset) != whole_kv_.layer_of(last)) {
    return errorf(Error::kInternal, "kv access of %zu bytes at %zu spans two layers of the split pool", bytes, offset);
  }
  return (whole_kv_.layer_of(offset) < split_ ? first_kv_ : last_kv_).at(offset);
}

Status SplitBackend::kv_read(size_t offset, void* dst, size_t bytes) const {
  const size_t at = AIRT_TRY(part_offset(offset, bytes));
  return part_of(whole_kv_.layer_of(offset)).kv_read(at, dst, bytes);
}

Status SplitBackend::kv_write(size_t offset, const void* src, size_t bytes) {
  const size_t at = AIRT_TRY(part_offset(offset, bytes));
  return part_of(whole_kv_.layer_of(offset)).kv_write(at, src, bytes);
}

}  // namespace airt::model
