// A compute pipeline made from one embedded shader: N storage-buffer bindings (set 0,
// bindings 0..N-1), a push-constant block, and optional specialization constants
// (constant_id 0, 1, ... in the shader: workgroup size, a variant switch).
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "runtime/core/result.h"

namespace airt::hal::vk {

class Context;

class Kernel {
 public:
  Kernel() = default;
  // Builds the pipeline for shader `name` (hal/vulkan/shaders/NAME.comp). Fails naming the
  // shader when it is not embedded or the driver rejects it.
  static Result<Kernel> create(Context& ctx, std::string_view name, uint32_t bindings, uint32_t push_bytes,
                               std::initializer_list<uint32_t> spec = {});
  ~Kernel();
  Kernel(Kernel&& o) noexcept;
  Kernel& operator=(Kernel&& o) noexcept;
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  const std::string& name() const { return name_; }
  uint32_t bindings() const { return bindings_; }
  uint32_t push_bytes() const { return push_bytes_; }
  VkPipeline pipeline() const { return pipeline_; }
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }

 private:
  void release();
  Status build(std::initializer_list<uint32_t> spec);

  Context* ctx_ = nullptr;
  std::string name_;
  uint32_t bindings_ = 0, push_bytes_ = 0;
  VkShaderModule module_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
};

}  // namespace airt::hal::vk
