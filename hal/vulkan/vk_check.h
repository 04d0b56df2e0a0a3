// Shared inside hal/vulkan (not a public header): VkResult as airt errors, the instance,
// the device query.
#pragma once

#include <vulkan/vulkan.h>

#include <vector>

#include "runtime/core/result.h"

namespace airt::hal::vk {

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" and the like.
const char* vk_result_name(VkResult r);

// An error naming the call that failed, its result and (for the common failures) the fix.
ErrorInfo vk_error(VkResult r, const char* what);

// A Vulkan 1.2+ instance for compute (no surface, no layers). The caller destroys it.
// A loader without drivers gives VK_ERROR_INCOMPATIBLE_DRIVER: *no_driver is set then.
Result<VkInstance> instance_create(bool* no_driver);

// The instance's physical devices (VK_SUCCESS or VK_INCOMPLETE with what was listed).
// Drivers initialise themselves here, once per load, into their own statics; the loader
// unloads them with the instance, after which LeakSanitizer sees that memory as leaked
// (llvmpipe does so on some CPUs). Under ASan it is not counted.
VkResult physical_devices(VkInstance instance, std::vector<VkPhysicalDevice>* out);

// Every earlier write visible to every later access, on every stage: between passes that
// are not hot (staging copies around the work of another submission).
void full_barrier(VkCommandBuffer cb);

struct DeviceInfo;
// Fills everything DeviceInfo reports for one physical device.
DeviceInfo query_device(VkPhysicalDevice pd, int index);

}  // namespace airt::hal::vk

// Evaluates a VkResult expression; on failure returns vk_error from the enclosing function.
#define AIRT_VK(expr, what)                                     \
  do {                                                          \
    VkResult airt_vk_r_ = (expr);                               \
    if (airt_vk_r_ != VK_SUCCESS) return ::airt::hal::vk::vk_error(airt_vk_r_, what); \
  } while (0)
