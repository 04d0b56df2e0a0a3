// The CPU backend: today's forward pass (forward.h) over the kernel table this CPU runs
// best (or the one asked for) on the backend's own thread pool. Weights are used in place
// from the mapping; KV block storage, activations, logits and the threads' scratch are
// host regions of the engine's plan. Given a layer range (a split pass's CPU part) it
// evaluates only those layers and keeps only their KV (kv_slice).
#pragma once

#include <memory>

#include "hal/cpu/thread_pool.h"
#include "runtime/model/backend.h"
#include "runtime/model/forward.h"

namespace airt::model {

class CpuBackend final : public Backend {
 public:
  static void plan_regions(const Model& m, const BackendParams& p, MemoryPlan& plan);
  static Result<std::unique_ptr<CpuBackend>> create(const Model& m, const BackendParams& p);

  const char* name() const override { return "cpu"; }
  DeviceKind device() const override { return DeviceKind::kCpu; }
  std::string describe() const override;
  bool supports(hal::Op op, hal::DType type) const override;
  void plan(MemoryPlan& plan) const override { plan_regions(model_, p_, plan); }
  Status carve(Arena& arena) override;
  Status bind(const Model& m) override;
  Status eval(const Batch& b, const KvCache& kv) override;
  std::span<const float> logits(int32_t i) const override { return forward_.logits(i); }
  Status set_tier(int32_t tier) override;
  Status set_threads(int32_t n) override;
  int32_t threads() const override { return threads_; }
  int32_t max_threads() const override { return p_.n_threads; }
  const BackendParams& params() const override { return p_; }
  Status kv_read(size_t offset, void* dst, size_t bytes) const override;
  Status kv_write(size_t offset, const void* src, size_t bytes) override;

  std::span<float> hidden_in(int32_t rows) override;
  std::span<const float> hidden_out(int32_t rows) const override;

  const hal::Kernels& kernels() const { return *kernels_; }
  hal::ThreadPool* host_pool() const override { return pool_; }

 private:
  CpuBackend(const Model& m, const BackendParams& p);
  static ForwardParams forward_params(const BackendParams& p);

  const Model& model_;
  BackendParams p_;
  const hal::Kernels* kernels_;
  std::unique_ptr<hal::ThreadPool> own_pool_;  // null with a shared pool
  hal::ThreadPool* pool_ = nullptr;
  Forward forward_;
  uint8_t* kv_ = nullptr;        // KV block storage
  size_t kv_bytes_ = 0;
  int32_t tier_ = 0;
  int32_t threads_ = 1;
};

}  // namespace airt::model
