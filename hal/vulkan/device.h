// Vulkan devices: what each one has, and whether airt would use it.
//
// The loader is linked, not opened at run time; a machine with the loader but no driver
// (ICD) simply has zero devices. enumerate_devices() never crashes on a missing driver: it
// returns an empty list, and Context::create() then says "no Vulkan device".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/result.h"

namespace airt::hal::vk {

enum class DeviceType { kOther, kIntegrated, kDiscrete, kVirtual, kCpu };

// "cpu", "integrated", "discrete", "virtual", "other".
const char* device_type_name(DeviceType t);

// Optional device features a Context may use. Masking one off makes the kernels take
// their portable path, as on a device without it (how the portable shaders are tested).
using Features = uint32_t;
// fp16: the _f16 shader builds (F16-weight matvec/matmul, attention over f16 K/V) multiply
// in f16 and sum runs of 8 products in f16, adding the runs in f32: NMSE ~3e-7 against the
// f32 reference, under their own bound (8 * 2^-22); masked, those ops take the f32 path.
constexpr Features kFeatureFp16 = 1u << 0;       // fp16 arithmetic in shaders (shaderFloat16)
constexpr Features kFeatureIntDot = 1u << 1;     // VK_KHR_shader_integer_dot_product
constexpr Features kFeatureSubgroups = 1u << 2;  // subgroup arithmetic (reductions)
// Host memory imported as device memory (VK_EXT_external_memory_host) on a device that
// reads host memory at full speed (unified memory, a CPU device): the mapped GGUF weights
// are bound in place instead of copied. A discrete card would read them over the bus on
// every product, so it copies them to its own memory instead. Masked: "no host import".
constexpr Features kFeatureHostImport = 1u << 3;
constexpr Features kFeatureAll = kFeatureFp16 | kFeatureIntDot | kFeatureSubgroups | kFeatureHostImport;

// "fp16 int-dot subgroups host-import" (the set bits), or "none".
std::string features_name(Features f);

struct MemoryHeap {
  uint64_t bytes = 0;
  bool device_local = false;
  bool host_visible = false;  // some memory type of this heap can be mapped
};

struct DeviceInfo {
  int index = 0;  // as --gpu N counts
  std::string name;
  DeviceType type = DeviceType::kOther;
  std::string driver_name;  // "llvmpipe", "NVIDIA", "V3DV Mesa"
  std::string driver_info;  // "Mesa 22.3.6 (LLVM 15.0.6)"
  uint32_t driver_version = 0;  // vendor-encoded
  uint32_t api_version = 0;     // VK_MAKE_API_VERSION encoded
  uint32_t vendor_id = 0, device_id = 0;
  std::vector<MemoryHeap> heaps;
  uint32_t subgroup_size = 0;
  bool subgroup_arithmetic = false;  // compute stage has subgroup add/min/max
  bool fp16 = false;                 // shaderFloat16
  bool int_dot = false;              // shaderIntegerDotProduct
  bool int_dot_accelerated = false;  // 4x8-bit packed signed dot product is a native instruction
  uint32_t max_shared_memory = 0;    // bytes per workgroup
  uint32_t max_workgroup_invocations = 0;
  uint32_t max_workgroup_count_x = 0;
  uint64_t min_storage_offset_alignment = 0;  // binding offsets are multiples of this
  uint64_t max_storage_range = 0;             // largest bindable storage-buffer range
  bool unified_memory = false;  // a heap both device-local and host-visible
  bool timestamps = false;      // compute queue writes timestamps
  bool host_import = false;     // VK_EXT_external_memory_host
  uint64_t min_import_alignment = 0;  // host pointers and sizes imported are multiples of this
  float timestamp_period_ns = 0;

  Features features() const;           // the optional features this device has
  std::string api_version_name() const;  // "1.3.230"
  uint64_t device_local_bytes() const;   // sum of the device-local heaps
};

// Every Vulkan device the loader reports, in its order. Zero devices (no driver) is an
// empty list, not an error; an error is a loader that fails in another way.
Result<std::vector<DeviceInfo>> enumerate_devices();

// Why `auto` would not pick this device ("llvmpipe is a CPU device, not used by auto"), or
// an empty string when it is a candidate. Forcing the Vulkan backend can still use it.
std::string auto_skip_reason(const DeviceInfo& d);

// The device Context::create(kAnyDevice) opens: discrete, then integrated, then virtual,
// then other, then a CPU device such as lavapipe; the first of a kind. -1 when no device
// supports Vulkan 1.2.
int best_device(const std::vector<DeviceInfo>& devices);

// Vulkan 1.2 is what the shaders target (glslc --target-env=vulkan1.2).
constexpr uint32_t kMinApiMajor = 1, kMinApiMinor = 2;

}  // namespace airt::hal::vk
