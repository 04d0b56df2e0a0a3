// SplitBackend: one forward pass over two backends, `--gpu-layers N` of a Vulkan pass: the
// CPU part embeds the tokens and runs layers [0, n_layer - N), the device part runs the
// last N layers, the final norm and the output head. Each part is an ordinary backend
// given a layer range (BackendParams::layers) and keeps the KV of its own layers only
// (kv_slice); the residual stream (rows x dim f32) is handed from the CPU part to the
// device part once per eval, through the device's mapped hand-off buffer.
//
// Why the device takes the last layers (as llama.cpp's -ngl does): the embedding lookup
// reads a few rows of the largest table, in place from the mapping, so it stays on the
// CPU and is never copied to the device; the output product, the largest single matrix,
// runs where the bandwidth is; and the logits already come back through host-visible
// memory. Either order hands over the same rows x dim floats once per eval, so this
// order adds no transfer and saves the embedding's copy.
//
// The memory plan lists both parts' regions, each detail saying which layers it holds.
// Record/replay on the device stays per shape (the device part records its own layers).
//
// Threading: one caller at a time. Ownership: the Model must outlive the backend.
#pragma once

#include <memory>
#include <string>

#include "runtime/model/backend.h"

namespace airt::model {

class SplitBackend final : public Backend {
 public:
  // The parts' regions for p (p.kind vulkan, 0 < device layers < n_layer).
  static Status plan_regions(const Model& m, const BackendParams& p, MemoryPlan& plan);
  static Result<std::unique_ptr<Backend>> create(const Model& m, const BackendParams& p);

  const char* name() const override { return "vulkan"; }
  DeviceKind device() const override { return last_->device(); }
  // "vulkan <device> ...: layers 4..7 + output head; cpu avx2, 4 of 4 threads: embeddings + layers 0..3"
  std::string describe() const override;
  bool supports(hal::Op op, hal::DType type) const override {
    return first_->supports(op, type) && last_->supports(op, type);
  }
  void plan(MemoryPlan& plan) const override { (void)plan_regions(model_, p_, plan); }
  Status carve(Arena& arena) override;
  Status bind(const Model& m) override;
  Status eval(const Batch& b, const KvCache& kv) override;
  std::span<const float> logits(int32_t i) const override { return last_->logits(i); }
  Status set_tier(int32_t tier) override;
  Status set_threads(int32_t n) override { return first_->set_threads(n); }
  int32_t threads() const override { return first_->threads(); }
  int32_t max_threads() const override { return first_->max_threads(); }
  const BackendParams& params() const override { return p_; }
  hal::ThreadPool* host_pool() const override { return first_->host_pool(); }
  // The device part's op times (the CPU part's layers are not in them).
  Result<OpProfile*> op_profile() const override { return last_->op_profile(); }
  // Cache offsets: routed by layer to the part that holds it.
  Status kv_read(size_t offset, void* dst, size_t bytes) const override;
  Status kv_write(size_t offset, const void* src, size_t bytes) override;

  // The layer where the device part starts.
  int32_t split_layer() const { return split_; }

 private:
  SplitBackend(const Model& m, const BackendParams& p, int32_t split) : model_(m), p_(p), split_(split) {}
  // The part holding `layer`, and where a cache offset lies in its storage.
  Backend& part_of(int32_t layer) const { return layer < split_ ? *first_ : *last_; }
  Result<size_t> part_offset(size_t offset, size_t bytes) const;

  const Model& model_;
  BackendParams p_;
  int32_t split_;                   // layers [0, split_) on the CPU, [split_, n_layer) on the device
  std::unique_ptr<Backend> first_;  // the CPU part
  std::unique_ptr<Backend> last_;   // the device part
  KvSlice first_kv_, last_kv_, whole_kv_;
};

}  // namespace airt::model
