#include "hal/vulkan/device.h"

#include <cstring>
#include <utility>

#include "hal/vulkan/vk_check.h"

#if defined(__SANITIZE_ADDRESS__)
#define AIRT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIRT_ASAN 1
#endif
#endif
#ifdef AIRT_ASAN
#include <sanitizer/lsan_interface.h>
#endif

namespace airt::hal::vk {

const char* device_type_name(DeviceType t) {
  switch (t) {
    case DeviceType::kIntegrated: return "integrated";
    case DeviceType::kDiscrete: return "discrete";
    case DeviceType::kVirtual: return "virtual";
    case DeviceType::kCpu: return "cpu";
    case DeviceType::kOther: break;
  }
  return "other";
}

std::string features_name(Features f) {
  std::string s;
  auto add = [&](Features bit, const char* name) {
    if (!(f & bit)) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(kFeatureFp16, "fp16");
  add(kFeatureIntDot, "int-dot");
  add(kFeatureSubgroups, "subgroups");
  add(kFeatureHostImport, "host-import");
  return s.empty() ? "none" : s;
}

Features DeviceInfo::features() const {
  Features f = 0;
  if (fp16) f |= kFeatureFp16;
  if (int_dot) f |= kFeatureIntDot;
  if (subgroup_arithmetic) f |= kFeatureSubgroups;
  if (host_import && (unified_memory || type == DeviceType::kCpu)) f |= kFeatureHostImport;
  return f;
}

std::string DeviceInfo::api_version_name() const {
  return std::to_string(VK_API_VERSION_MAJOR(api_version)) + "." + std::to_string(VK_API_VERSION_MINOR(api_version)) +
         "." + std::to_string(VK_API_VERSION_PATCH(api_version));
}

uint64_t DeviceInfo::device_local_bytes() const {
  uint64_t n = 0;
  for (const MemoryHeap& h : heaps)
    if (h.device_local) n += h.bytes;
  return n;
}

const char* vk_result_name(VkResult r) {
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult";
  }
}

ErrorInfo vk_error(VkResult r, const char* what) {
  switch (r) {
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return errorf(Error::kResourceOutOfMemory, "vulkan: %s: out of device memory (%s); use a smaller context or --backend cpu",
                    what, vk_result_name(r));
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return errorf(Error::kResourceOutOfMemory, "vulkan: %s: out of host memory (%s)", what, vk_result_name(r));
    case VK_ERROR_DEVICE_LOST:
      return errorf(Error::kBackendDeviceLost,
                    "vulkan: %s: the device was lost (%s: driver reset or hang); use --backend auto or "
                    "--backend-fallback cpu to continue on the CPU, or --backend cpu",
                    what, vk_result_name(r));
    default:
      return errorf(Error::kBackendFailure, "vulkan: %s failed: %s (%d)", what, vk_result_name(r), int(r));
  }
}

void full_barrier(VkCommandBuffer cb) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT;
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &mb, 0, nullptr,
                       0, nullptr);
}

Result<VkInstance> instance_create(bool* no_driver) {
  *no_driver = false;
  uint32_t loader_version = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion(&loader_version) != VK_SUCCESS) loader_version = VK_API_VERSION_1_0;
  if (loader_version < VK_API_VERSION_1_2)
    return errorf(Error::kBackendUnsupported, "vulkan: the loader supports Vulkan %u.%u, airt needs 1.2 (update libvulkan1)",
                  VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "airt";
  app.pEngineName = "airt";
  app.apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  VkInstance instance = VK_NULL_HANDLE;
  VkResult r = vkCreateInstance(&ci, nullptr, &instance);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
    *no_driver = true;
    return errorf(Error::kBackendUnsupported, "no Vulkan device (the loader found no driver; Debian: mesa-vulkan-drivers)");
  }
  AIRT_VK(r, "vkCreateInstance");
  return instance;
}

VkResult physical_devices(VkInstance instance, std::vector<VkPhysicalDevice>* out) {
#ifdef AIRT_ASAN
  __lsan::ScopedDisabler driver_statics;
#endif
  uint32_t n = 0;
  VkResult r = vkEnumeratePhysicalDevices(instance, &n, nullptr);
  out->assign(n, VK_NULL_HANDLE);
  if (r == VK_SUCCESS && n) r = vkEnumeratePhysicalDevices(instance, &n, out->data());
  out->resize(r == VK_SUCCESS || r == VK_INCOMPLETE ? n : 0);
  return r;
}

namespace {

bool has_extension(VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> ext(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data());
  for (const auto& e : ext)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

DeviceType type_of(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return DeviceType::kIntegrated;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return DeviceType::kDiscrete;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return DeviceType::kVirtual;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return DeviceType::kCpu;
    default: return DeviceType::kOther;
  }
}

void query_memory(VkPhysicalDevice pd, DeviceInfo& d) {
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(pd, &mp);
  d.heaps.resize(mp.memoryHeapCount);
  for (uint32_t i = 0; i < mp.memoryHeapCount; ++i) {
    d.heaps[i].bytes = mp.memoryHeaps[i].size;
    d.heaps[i].device_local = mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
  }
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
    MemoryHeap& h = d.heaps[mp.memoryTypes[i].heapIndex];
    if (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) h.host_visible = true;
    if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
        (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) && h.device_local)
      d.unified_memory = true;
  }
  // A discrete card's small host-visible window (resizable BAR off) is not unified memory.
  if (d.type == DeviceType::kDiscrete) d.unified_memory = false;
}

void query_compute_queue(VkPhysicalDevice pd, DeviceInfo& d, float period) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> q(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q.data());
  for (const auto& f : q)
    if ((f.queueFlags & VK_QUEUE_COMPUTE_BIT) && f.timestampValidBits > 0) d.timestamps = period > 0;
  d.timestamp_period_ns = period;
}

}  // namespace

DeviceInfo query_device(VkPhysicalDevice pd, int index) {
  DeviceInfo d;
  d.index = index;
  VkPhysicalDeviceProperties base;
  vkGetPhysicalDeviceProperties(pd, &base);
  d.name = base.deviceName;
  d.type = type_of(base.deviceType);
  d.api_version = base.apiVersion;
  d.driver_version = base.driverVersion;
  d.vendor_id = base.vendorID;
  d.device_id = base.deviceID;
  d.max_shared_memory = base.limits.maxComputeSharedMemorySize;
  d.max_workgroup_invocations = base.limits.maxComputeWorkGroupInvocations;
  d.max_workgroup_count_x = base.limits.maxComputeWorkGroupCount[0];
  d.min_storage_offset_alignment = base.limits.minStorageBufferOffsetAlignment;
  d.max_storage_range = base.limits.maxStorageBufferRange;
  query_memory(pd, d);
  query_compute_queue(pd, d, base.limits.timestampPeriod);
  if (base.apiVersion < VK_API_VERSION_1_2) return d;  // the 1.1/1.2 structs below need 1.2

  const bool dot_ext = base.apiVersion >= VK_API_VERSION_1_3 || has_extension(pd, "VK_KHR_shader_integer_dot_product");
  VkPhysicalDeviceShaderIntegerDotProductProperties dot_props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES};
  d.host_import = has_extension(pd, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  VkPhysicalDeviceExternalMemoryHostPropertiesEXT host_props{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
  VkPhysicalDeviceVulkan11Properties p11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
  VkPhysicalDeviceVulkan12Properties p12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES};
  p11.pNext = &p12;
  if (dot_ext) p12.pNext = &dot_props;
  if (d.host_import) host_props.pNext = std::exchange(p11.pNext, &host_props);
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &p11};
  vkGetPhysicalDeviceProperties2(pd, &props);
  d.min_import_alignment = d.host_import ? host_props.minImportedHostPointerAlignment : 0;
  d.driver_name = p12.driverName;
  d.driver_info = p12.driverInfo;
  d.subgroup_size = p11.subgroupSize;
  d.subgroup_arithmetic = (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);

  VkPhysicalDeviceShaderIntegerDotProductFeatures dot_feat{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  if (dot_ext) f12.pNext = &dot_feat;
  VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f12};
  vkGetPhysicalDeviceFeatures2(pd, &feats);
  d.fp16 = f12.shaderFloat16;
  d.int_dot = dot_ext && dot_feat.shaderIntegerDotProduct;
  d.int_dot_accelerated = d.int_dot && dot_props.integerDotProduct4x8BitPackedSignedAccelerated;
  return d;
}

Result<std::vector<DeviceInfo>> enumerate_devices() {
  bool no_driver = false;
  auto instance = instance_create(&no_driver);
  if (!instance.ok()) {
    if (no_driver) return std::vector<DeviceInfo>{};
    return std::move(instance).error();
  }
  std::vector<VkPhysicalDevice> pds;
  VkResult r = physical_devices(*instance, &pds);
  std::vector<DeviceInfo> out;
  for (size_t i = 0; i < pds.size(); ++i) out.push_back(query_device(pds[i], int(i)));
  vkDestroyInstance(*instance, nullptr);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE && r != VK_ERROR_INITIALIZATION_FAILED)
    return vk_error(r, "vkEnumeratePhysicalDevices");
  return out;
}

namespace {

int type_rank(DeviceType t) {
  switch (t) {
    case DeviceType::kDiscrete: return 0;
    case DeviceType::kIntegrated: return 1;
    case DeviceType::kVirtual: return 2;
    case DeviceType::kOther: return 3;
    case DeviceType::kCpu: return 4;
  }
  return 5;
}

}  // namespace

int best_device(const std::vector<DeviceInfo>& devices) {
  int pick = -1, best_rank = 99;
  for (size_t i = 0; i < devices.size(); ++i) {
    const DeviceInfo& d = devices[i];
    if (d.api_version < VK_API_VERSION_1_2 || type_rank(d.type) >= best_rank) continue;
    best_rank = type_rank(d.type);
    pick = int(i);
  }
  return pick;
}

std::string auto_skip_reason(const DeviceInfo& d) {
  if (d.api_version < VK_MAKE_API_VERSION(0, kMinApiMajor, kMinApiMinor, 0))
    return d.name + " supports Vulkan " + d.api_version_name() + ", airt needs 1.2: not used";
  if (d.type == DeviceType::kCpu)
    return (d.driver_name.empty() ? d.name : d.driver_name) + " is a CPU device, not used by auto";
  return {};
}

}  // namespace airt::hal::vk
