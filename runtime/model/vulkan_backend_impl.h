// The Vulkan backend's class (vulkan_backend.h is its Vulkan-free face). Only compiled
// with AIRT_HAVE_VULKAN. vulkan_backend.cpp: creation, memory, weights, KvStore;
// vulkan_backend_pass.cpp: the step tables, the forward pass recorded, and eval();
// vulkan_backend_ops.cpp: each op as a call into hal::vk::Ops.
//
// Given a layer range starting after layer 0 (a split pass's device part,
// split_backend.h) it uploads only those layers' weights and the output head, keeps only
// their KV (kv_slice), and starts the pass by copying the residual stream the CPU part
// wrote into the mapped hand-off rows (Layout::input, in the step tables) to x.
#pragma once

#include <array>
#include <memory>
#include <unordered_map>
#include <vector>

#include "hal/vulkan/ops.h"
#include "hal/vulkan/vulkan.h"
#include "runtime/model/backend.h"

namespace airt::model {

// A slice of a device buffer, as the ops bind it.
using VkRef = hal::vk::BufferRef;

class VulkanBackend final : public Backend {
 public:
  static void plan_regions(const Model& m, const BackendParams& p, MemoryPlan& plan);
  static Result<std::unique_ptr<VulkanBackend>> create(const Model& m, const BackendParams& p);

  const char* name() const override { return "vulkan"; }
  DeviceKind device() const override;
  std::string describe() const override;
  bool supports(hal::Op op, hal::DType type) const override;
  void plan(MemoryPlan& plan) const override;  // as bound: imported weights are mapped
  Status carve(Arena& arena) override;
  Status bind(const Model& m) override;
  Status eval(const Batch& b, const KvCache& kv) override;
  std::span<const float> logits(int32_t i) const override;
  Status set_tier(int32_t tier) override;
  Status set_threads(int32_t n) override;
  int32_t threads() const override { return 1; }
  int32_t max_threads() const override { return 1; }
  const BackendParams& params() const override { return p_; }
  Status kv_read(size_t offset, void* dst, size_t bytes) const override;
  Status kv_write(size_t offset, const void* src, size_t bytes) override;
  Result<OpProfile*> op_profile() const override;
  // A range starting after layer 0 (a split pass's device part): the mapped hand-off rows.
  std::span<float> hidden_in(int32_t rows) override;

  // Offsets of the activation buffers inside the activations region, and of the step
  // tables inside the tables region (each aligned for binding).
  struct Layout {
    uint64_t x, xn, q, k, v, att, tmp, gate, up, xo, scratch, bytes;
    uint64_t tokens, rope, k_slots, v_slots, rows, keys, keep, input, tables;  // input: the hand-off
    uint64_t n_keys;  // KvKey entries the keys table holds
  };
  static Layout layout(const Model& m, const BackendParams& p, uint64_t align);

 private:
  VulkanBackend(const Model& m, const BackendParams& p) : model_(m), p_(p) {}
  Status create_kernels();
  // Tier t's weights: imported (mapped) where copy_why[t] is empty, else a device copy.
  static void add_regions(const Model& m, const BackendParams& p, const std::vector<std::string>& copy_why,
                          MemoryPlan& plan);
  Status upload_tier(int32_t t);
  // Where tensor `w` of tier t lives in that tier's weight buffer.
  VkRef weight(const WeightTensor& w) const;
  // Writes the step tables for `b` (vulkan_backend_pass.cpp).
  Status write_tables(const Batch& b, const KvCache& kv);
  Status write_keys(const Batch& b, const KvCache& kv);
  // Records the pass for n rows keeping nl logits on the active tier.
  Status record(hal::vk::Recorder& r, int32_t n, int32_t nl, const KvCache& kv);
  Status record_layer(hal::vk::Recorder& r, int l, int32_t n, const KvCache& kv);
  // One matrix product: out (n x w.rows) = x (n x w.cols) · Wᵀ.
  Status product(hal::vk::Recorder& r, const WeightTensor& w, VkRef x, int32_t n, VkRef out);
  Status bias(hal::vk::Recorder& r, const WeightTensor& b, VkRef x, int32_t n);
  Status norm(hal::vk::Recorder& r, const WeightTensor& w, VkRef x, int32_t rows, VkRef y);
  Status rope(hal::vk::Recorder& r, VkRef x, int32_t n, int32_t heads);
  Status add(hal::vk::Recorder& r, VkRef a, VkRef b, uint32_t n, VkRef out);
  Status silu_mul(hal::vk::Recorder& r, VkRef gate, VkRef up, uint32_t n, VkRef out);
  // x rows = embedding rows of the tokens; out rows = the f32 rows `ids` of src.
  Status embed(hal::vk::Recorder& r, const WeightTensor& w, VkRef ids, int32_t n, VkRef out);
  Status gather(hal::vk::Recorder& r, VkRef src, VkRef ids, int32_t n, VkRef out);
  Status store_kv(hal::vk::Recorder& r, int l, int32_t n, const KvCache& kv);
  Status attend(hal::vk::Recorder& r, int l, int32_t n, const KvCache& kv);
  // With a timed recording: a timestamp after the op just recorded, labelled `op`.
  Status mark(hal::vk::Recorder& r, const char* op);
  Status mark_product(hal::vk::Recorder& r, const WeightTensor& w, int32_t n);
  // Adds a timed replay's op times to profile_.
  Status accumulate(const hal::vk::Recorder& r, const std::vector<std::string>& labels, int32_t n);
  VkRef act(uint64_t offset, uint64_t bytes) const { return VkRef(act_, offset, bytes); }
  VkRef table(uint64_t offset, uint64_t bytes) const { return VkRef(tables_, offset, bytes); }
  // The layers this backend runs ([0, n_layer) unless it is a split pass's part), and its
  // KV storage: only those layers, packed (kv_slice); KvKey / slot offsets count from the
  // block's first layer here, and each layer adds kv_layer_off().
  LayerRange range() const { return layer_range(model_.hparams(), p_); }
  uint64_t kv_layer_off(const KvCache& kv, int l) const { return kv.k_offset(0, l) - kv.k_offset(0, range().begin); }
  // Where the K (V) row at `slot` of pool block `id` starts in this backend's storage,
  // before the layer's offset (slice_, set by write_tables()).
  uint32_t k_slot(const KvCache& kv, int32_t id, size_t slot) const;
  uint32_t v_slot(const KvCache& kv, int32_t id, size_t slot) const;

  const Model& model_;
  BackendParams p_;
  std::unique_ptr<hal::vk::Context> ctx_;
  std::unique_ptr<hal::vk::Ops> ops_;
  hal::vk::Kernel add_bias_;  // attention_qkv_bias: qwen2's Q/K/V biases on every row
  Layout lay_{};
  std::vector<hal::vk::Buffer> weights_;  // one per tier
  std::vector<std::unordered_map<const void*, uint64_t>> weight_at_;  // tensor -> offset, per tier
  hal::vk::Buffer kv_, act_, tables_, logits_;
  size_t kv_bytes_ = 0;
  int32_t tier_ = 0;
  // Rows written with one pair of KV types: [row0, next run's row0). Blocks keep the types
  // they were first written with, so one batch may hold several.
  struct TypeRun {
    int32_t row0 = 0;
    hal::DType k = hal::DType::kF16, v = hal::DType::kF16;
    bool operator==(const TypeRun&) const = default;
  };
  std::vector<TypeRun> runs_;  // this step's, from write_tables()
  KvSlice slice_{};            // the KV layout of range(), from write_tables()
  std::vector<int32_t> key_pos_;  // positions of the keys table's entries (host side)
  // Recorded passes by shape, replayed when the shape repeats.
  struct Recording {
    int32_t n = 0, nl = 0, tier = -1;
    std::vector<TypeRun> runs;
    uint64_t used = 0;
    bool timed = false;               // recorded with a timestamp after each op
    std::vector<std::string> labels;  // timed: the op of timestamp i + 1
    hal::vk::Recorder rec;
  };
  std::array<Recording, 4> recs_;
  Result<Recording*> recording_for(int32_t n, int32_t nl, const KvCache& kv);
  uint64_t clock_ = 0;
  mutable OpProfile profile_;
  std::vector<std::string>* labels_ = nullptr;  // the timed recording being recorded
  std::vector<double> stamp_ns_;
  int32_t kept_ = 0;
};

}  // namespace airt::model
