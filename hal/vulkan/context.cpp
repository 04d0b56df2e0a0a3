#include "hal/vulkan/context.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "hal/vulkan/vk_check.h"

namespace airt::hal::vk {
namespace {

// The first queue family that can run compute shaders (compute-only families first: they
// are the asynchronous compute queues that do not compete with a display).
Result<uint32_t> compute_family(VkPhysicalDevice pd, const std::string& name) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> q(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q.data());
  for (uint32_t i = 0; i < n; ++i)
    if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) return i;
  for (uint32_t i = 0; i < n; ++i)
    if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) return i;
  return errorf(Error::kBackendUnsupported, "vulkan: %s has no compute queue", name.c_str());
}

// Submissions left before the injected device loss; -1: none armed.
std::atomic<int64_t> g_fault_after{-1};

// AIRT_VULKAN_FAULT=device-lost@N: end-to-end tests of the fallback through the CLI.
void fault_from_environment() {
  const char* v = std::getenv("AIRT_VULKAN_FAULT");
  if (!v || !*v) return;
  long long n = -1;
  if (std::sscanf(v, "device-lost@%lld", &n) == 1 && n >= 0) {
    fault_device_lost_after(n);
    return;
  }
  std::fprintf(stderr, "airt: AIRT_VULKAN_FAULT=%s not understood (use device-lost@N); no fault injected\n", v);
}

}  // namespace

void fault_device_lost_after(int64_t submits) { g_fault_after.store(submits < 0 ? -1 : submits); }

Result<std::unique_ptr<Context>> Context::create(int gpu_index, Features mask) {
  static std::once_flag env_once;
  std::call_once(env_once, fault_from_environment);
  std::unique_ptr<Context> ctx(new Context());
  bool no_driver = false;
  ctx->instance_ = AIRT_TRY(instance_create(&no_driver));
  std::vector<VkPhysicalDevice> pds;
  AIRT_VK(physical_devices(ctx->instance_, &pds), "vkEnumeratePhysicalDevices");
  uint32_t n = uint32_t(pds.size());
  if (n == 0) return errorf(Error::kBackendUnsupported, "no Vulkan device (the driver reports none; use --backend cpu)");
  if (gpu_index >= int(n))
    return errorf(Error::kRequestOutOfRange, "vulkan: --gpu %d: there are %u Vulkan devices (0..%u; see airt info)",
                  gpu_index, n, n - 1);
  int pick = gpu_index;
  if (pick < 0) {
    std::vector<DeviceInfo> devices;
    for (uint32_t i = 0; i < n; ++i) devices.push_back(query_device(pds[i], int(i)));
    pick = best_device(devices);
    if (pick < 0) return errorf(Error::kBackendUnsupported, "no Vulkan device supports Vulkan 1.2 (see airt info)");
  }
  AIRT_TRY(ctx->open(pds[pick], mask));
  ctx->info_.index = pick;
  return ctx;
}

Status Context::open(VkPhysicalDevice pd, Features mask) {
  physical_ = pd;
  info_ = query_device(pd, 0);
  if (info_.api_version < VK_API_VERSION_1_2)
    return errorf(Error::kBackendUnsupported, "vulkan: %s supports Vulkan %s, airt needs 1.2", info_.name.c_str(),
                  info_.api_version_name().c_str());
  features_ = info_.features() & mask;
  vkGetPhysicalDeviceMemoryProperties(pd, &memory_);
  queue_family_ = AIRT_TRY(compute_family(pd, info_.name));
  AIRT_TRY(create_device(mask));
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  return create_pools();
}

Status Context::create_device(Features mask) {
  VkPhysicalDeviceShaderIntegerDotProductFeatures dot{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDeviceVulkan12Features have12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features have11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, &have12};
  VkPhysicalDeviceFeatures2 have{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &have11};
  vkGetPhysicalDeviceFeatures2(physical_, &have);

  // Storage widths and int8/int16 are turned on wherever the device has them: they change
  // no result, and the masked (portable) shaders do not use them.
  VkPhysicalDeviceVulkan12Features on12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  on12.shaderFloat16 = (mask & kFeatureFp16) ? have12.shaderFloat16 : VK_FALSE;
  on12.shaderInt8 = have12.shaderInt8;
  on12.storageBuffer8BitAccess = have12.storageBuffer8BitAccess;
  VkPhysicalDeviceVulkan11Features on11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, &on12};
  on11.storageBuffer16BitAccess = have11.storageBuffer16BitAccess;
  VkPhysicalDeviceFeatures2 on{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &on11};
  on.features.shaderInt16 = have.features.shaderInt16;
  on.features.shaderInt64 = have.features.shaderInt64;

  std::vector<const char*> extensions;
  if (features_ & kFeatureIntDot) {
    dot.shaderIntegerDotProduct = VK_TRUE;
    on12.pNext = &dot;
    if (info_.api_version < VK_API_VERSION_1_3) extensions.push_back("VK_KHR_shader_integer_dot_product");
  }
  if (features_ & kFeatureHostImport) {
    extensions.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  }
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queue_family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &on};
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = uint32_t(extensions.size());
  dci.ppEnabledExtensionNames = extensions.data();
  AIRT_VK(vkCreateDevice(physical_, &dci, nullptr, &device_), "vkCreateDevice");
  if (features_ & kFeatureHostImport) {
    // An extension function: the loader's link library does not export it.
    host_pointer_properties_ = reinterpret_cast<PFN_vkGetMemoryHostPointerPropertiesEXT>(
        vkGetDeviceProcAddr(device_, "vkGetMemoryHostPointerPropertiesEXT"));
    if (!host_pointer_properties_) features_ &= ~kFeatureHostImport;
  }
  return ok_status();
}

Status Context::create_pools() {
  VkCommandPoolCreateInfo cp{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  cp.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  cp.queueFamilyIndex = queue_family_;
  AIRT_VK(vkCreateCommandPool(device_, &cp, nullptr, &command_pool_), "vkCreateCommandPool");
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kMaxSets * kMaxBindings};
  VkDescriptorPoolCreateInfo dp{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dp.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
  dp.maxSets = kMaxSets;
  dp.poolSizeCount = 1;
  dp.pPoolSizes = &size;
  AIRT_VK(vkCreateDescriptorPool(device_, &dp, nullptr, &descriptor_pool_), "vkCreateDescriptorPool");
  VkFenceCreateInfo fc{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  AIRT_VK(vkCreateFence(device_, &fc, nullptr, &fence_), "vkCreateFence");
  return ok_status();
}

Context::~Context() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    if (fence_) vkDestroyFence(device_, fence_, nullptr);
    if (descriptor_pool_) vkDestroyDescriptorPool(device_, descriptor_pool_, nullptr);
    if (command_pool_) vkDestroyCommandPool(device_, command_pool_, nullptr);
    vkDestroyDevice(device_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

int Context::memory_type(uint32_t type_bits, VkMemoryPropertyFlags want) const {
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i)
    if ((type_bits & (1u << i)) && (memory_.memoryTypes[i].propertyFlags & want) == want) return int(i);
  return -1;
}

Status Context::submit_and_wait(VkCommandBuffer cb) {
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  if (lost_) return vk_error(VK_ERROR_DEVICE_LOST, "vkQueueSubmit");
  for (int64_t left = g_fault_after.load(); left >= 0;) {
    if (left == 0 && g_fault_after.compare_exchange_weak(left, -1)) {
      lost_ = true;
      return vk_error(VK_ERROR_DEVICE_LOST, "vkQueueSubmit (an injected fault)");
    }
    if (left > 0 && g_fault_after.compare_exchange_weak(left, left - 1)) break;
  }
  AIRT_VK(vkResetFences(device_, 1, &fence_), "vkResetFences");
  VkResult r = vkQueueSubmit(queue_, 1, &si, fence_);
  if (r == VK_SUCCESS) r = vkWaitForFences(device_, 1, &fence_, VK_TRUE, UINT64_MAX);
  if (r == VK_ERROR_DEVICE_LOST) lost_ = true;
  if (r != VK_SUCCESS) return vk_error(r, "vkQueueSubmit");
  return ok_status();
}

Result<VkCommandBuffer> Context::begin_one_shot() {
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = command_pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  AIRT_VK(vkAllocateCommandBuffers(device_, &ai, &cb), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VkResult r = vkBeginCommandBuffer(cb, &bi);
  if (r != VK_SUCCESS) {
    vkFreeCommandBuffers(device_, command_pool_, 1, &cb);
    return vk_error(r, "vkBeginCommandBuffer");
  }
  return cb;
}

Status Context::finish_one_shot(VkCommandBuffer cb) {
  VkResult r = vkEndCommandBuffer(cb);
  Status s = r == VK_SUCCESS ? submit_and_wait(cb) : Status(vk_error(r, "vkEndCommandBuffer"));
  vkFreeCommandBuffers(device_, command_pool_, 1, &cb);
  return s;
}

}  // namespace airt::hal::vk
