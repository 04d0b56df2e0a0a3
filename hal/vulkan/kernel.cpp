#include "hal/vulkan/kernel.h"

#include <utility>
#include <vector>

#include "hal/vulkan/context.h"
#include "hal/vulkan/shaders.h"
#include "hal/vulkan/vk_check.h"

namespace airt::hal::vk {

Result<Kernel> Kernel::create(Context& ctx, std::string_view name, uint32_t bindings, uint32_t push_bytes,
                              std::initializer_list<uint32_t> spec) {
  if (bindings > Context::kMaxBindings)
    return errorf(Error::kInternal, "vulkan: kernel %.*s: %u bindings, at most %u", int(name.size()), name.data(),
                  bindings, Context::kMaxBindings);
  Kernel k;
  k.ctx_ = &ctx;
  k.name_ = std::string(name);
  k.bindings_ = bindings;
  k.push_bytes_ = push_bytes;
  AIRT_TRY(k.build(spec));
  return k;
}

Status Kernel::build(std::initializer_list<uint32_t> spec) {
  const EmbeddedShader* shader = find_shader(name_);
  if (!shader)
    return errorf(Error::kBackendUnsupported, "vulkan: no shader named %s in this build (built: %s)", name_.c_str(),
                  shader_names().c_str());
  const VkDevice dev = ctx_->device();
  VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mi.codeSize = shader->words * 4;
  mi.pCode = shader->spirv;
  AIRT_VK(vkCreateShaderModule(dev, &mi, nullptr, &module_), name_.c_str());

  VkDescriptorSetLayoutBinding b[Context::kMaxBindings];
  for (uint32_t i = 0; i < bindings_; ++i)
    b[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo li{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  li.bindingCount = bindings_;
  li.pBindings = b;
  AIRT_VK(vkCreateDescriptorSetLayout(dev, &li, nullptr, &set_layout_), name_.c_str());

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes_};
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &set_layout_;
  pl.pushConstantRangeCount = push_bytes_ ? 1 : 0;
  pl.pPushConstantRanges = &range;
  AIRT_VK(vkCreatePipelineLayout(dev, &pl, nullptr, &layout_), name_.c_str());

  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t i = 0; i < spec.size(); ++i) entries.push_back({i, i * 4, 4});
  VkSpecializationInfo si{uint32_t(entries.size()), entries.data(), spec.size() * 4, spec.begin()};
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module_;
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = spec.size() ? &si : nullptr;
  ci.layout = layout_;
  AIRT_VK(vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &ci, nullptr, &pipeline_), name_.c_str());
  return ok_status();
}

Kernel::~Kernel() { release(); }

Kernel::Kernel(Kernel&& o) noexcept { *this = std::move(o); }

Kernel& Kernel::operator=(Kernel&& o) noexcept {
  if (this == &o) return *this;
  release();
  ctx_ = std::exchange(o.ctx_, nullptr);
  name_ = std::move(o.name_);
  bindings_ = o.bindings_;
  push_bytes_ = o.push_bytes_;
  module_ = std::exchange(o.module_, VK_NULL_HANDLE);
  set_layout_ = std::exchange(o.set_layout_, VK_NULL_HANDLE);
  layout_ = std::exchange(o.layout_, VK_NULL_HANDLE);
  pipeline_ = std::exchange(o.pipeline_, VK_NULL_HANDLE);
  return *this;
}

void Kernel::release() {
  if (!ctx_) return;
  const VkDevice dev = ctx_->device();
  if (pipeline_) vkDestroyPipeline(dev, pipeline_, nullptr);
  if (layout_) vkDestroyPipelineLayout(dev, layout_, nullptr);
  if (set_layout_) vkDestroyDescriptorSetLayout(dev, set_layout_, nullptr);
  if (module_) vkDestroyShaderModule(dev, module_, nullptr);
  ctx_ = nullptr;
}

}  // namespace airt::hal::vk
