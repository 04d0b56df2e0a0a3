// The Vulkan device layer as a conformance backend: each call uploads its inputs into
// fresh device buffers, records the op through hal::vk::Ops, submits, waits and downloads
// the outputs. Built with Vulkan only (AIRT_HAVE_VULKAN); a Context made with a feature
// mask runs the portable shader builds for the features masked off.
#pragma once

#if AIRT_HAVE_VULKAN
#include <memory>
#include <string>

#include "hal/vulkan/vulkan.h"
#include "tests/support/conformance.h"

namespace airt::conformance {

class VulkanOpBackend final : public OpBackend {
 public:
  // Device `gpu` (hal::vk::kAnyDevice: the best there is) with the features in `mask`.
  static Result<std::unique_ptr<VulkanOpBackend>> create(int gpu, hal::vk::Features mask);

  std::string name() const override;
  bool supports(hal::Op op, hal::DType type) const override;
  Status matmul(const MatmulArgs& a) override;
  Status get_rows(const GetRowsArgs& a) override;
  Status rms_norm(const RmsNormArgs& a) override;
  Status rope(const RopeArgs& a) override;
  Status softmax(const SoftmaxArgs& a) override;
  Status silu_mul(const SiluMulArgs& a) override;
  Status add(const AddArgs& a) override;
  Status attention(const AttentionArgs& a) override;
  Status kv_store(const KvStoreArgs& a) override;

  hal::vk::Context& context() { return *ctx_; }

 private:
  VulkanOpBackend() = default;
  // A device buffer holding `bytes` bytes of `src` (or uninitialised when src is null).
  Result<hal::vk::Buffer> buffer(const void* src, uint64_t bytes, const char* name);
  // Begins the recorder; run() ends, submits and waits.
  Status start();
  Status run();

  std::unique_ptr<hal::vk::Context> ctx_;
  std::unique_ptr<hal::vk::Ops> ops_;
  hal::vk::Recorder rec_;
};

}  // namespace airt::conformance
#endif
