// One Vulkan device opened for compute: the instance, the logical device, one compute
// queue, a command pool and a descriptor pool.
//
// Ownership: Buffers, Kernels and Recorders made from a Context hold a pointer to it, so
// the Context must outlive all of them. A Context is used from one thread at a time.
#pragma once

#include <vulkan/vulkan.h>

#include <memory>

#include "hal/vulkan/device.h"
#include "runtime/core/result.h"

namespace airt::hal::vk {

// Context::create's gpu_index for "the best device there is" (discrete, then integrated,
// then virtual, then a CPU device such as lavapipe).
constexpr int kAnyDevice = -1;

// Fault injection for the device-lost path, which no driver takes on demand: after
// `submits` more submissions succeed (on any context), the next one returns
// VK_ERROR_DEVICE_LOST and its context stays lost, as a real device does; -1 disarms.
// AIRT_VULKAN_FAULT=device-lost@N in the environment arms it when the first context opens.
void fault_device_lost_after(int64_t submits);

class Context {
 public:
  // Opens device `gpu_index` (as enumerate_devices() counts) with the optional features in
  // `mask` that it has; features outside the mask stay off, so kernels take their portable
  // path. "no Vulkan device" (kBackendUnsupported) when there is none.
  static Result<std::unique_ptr<Context>> create(int gpu_index = kAnyDevice, Features mask = kFeatureAll);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const DeviceInfo& info() const { return info_; }
  // The optional features on for this context: the device's, within the mask.
  Features features() const { return features_; }
  bool has(Features f) const { return (features_ & f) == f; }

  VkDevice device() const { return device_; }
  VkPhysicalDevice physical_device() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  VkCommandPool command_pool() const { return command_pool_; }
  VkDescriptorPool descriptor_pool() const { return descriptor_pool_; }

  // The first memory type allowed by `type_bits` that has all of `want`, or -1.
  int memory_type(uint32_t type_bits, VkMemoryPropertyFlags want) const;
  VkMemoryPropertyFlags memory_flags(uint32_t type) const { return memory_.memoryTypes[type].propertyFlags; }

  // VK_EXT_external_memory_host's query, while kFeatureHostImport is on (else null).
  PFN_vkGetMemoryHostPointerPropertiesEXT host_pointer_properties() const { return host_pointer_properties_; }

  // Submits one recorded command buffer to the queue and waits for it to finish. A lost
  // device (VK_ERROR_DEVICE_LOST, real or injected) is Error::kBackendDeviceLost, and every
  // later submission fails the same way.
  Status submit_and_wait(VkCommandBuffer cb);
  bool lost() const { return lost_; }
  // A primary command buffer from the pool, begun for one submission (staging copies).
  Result<VkCommandBuffer> begin_one_shot();
  // Ends, submits, waits for and frees a begin_one_shot() buffer.
  Status finish_one_shot(VkCommandBuffer cb);

  // Descriptor sets per pool and bindings per set the descriptor pool was sized for.
  static constexpr uint32_t kMaxSets = 4096;
  static constexpr uint32_t kMaxBindings = 8;

 private:
  Context() = default;
  Status open(VkPhysicalDevice pd, Features mask);
  Status create_device(Features mask);
  Status create_pools();

  DeviceInfo info_;
  Features features_ = 0;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  VkPhysicalDeviceMemoryProperties memory_{};
  PFN_vkGetMemoryHostPointerPropertiesEXT host_pointer_properties_ = nullptr;
  bool lost_ = false;
};

}  // namespace airt::hal::vk
