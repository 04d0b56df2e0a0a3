// The Vulkan backend: the forward pass of forward.h as compute-shader dispatches on one
// Vulkan device (hal/vulkan). Its regions are device memory, one allocation each: every
// weight tier (see below), the KV block storage (it is the cache's KvStore), the
// activations, and the per-step tables and logits, host-visible. On a unified-memory
// device every region is device-local and host-visible.
//
// Weights: where the device can import host memory (VK_EXT_external_memory_host on a
// unified-memory or CPU device, hal::vk::kFeatureHostImport not masked) each tier's file
// mapping is bound in place, no copy: the plan shows it as mapped, not device. Otherwise,
// or when the driver refuses the import at bind() (logged, naming why), a copy of each
// tier is uploaded once. The Model (and so its mappings) outlives the backend.
//
// eval() records the pass once per shape (rows, kept logits, tier) and replays the
// recorded command buffer whenever the shape repeats (every decode step); the per-step
// tables (tokens, rope angles, KV slots, each row's visible keys) are written to mapped
// memory before each submission, so a replay needs no re-recording. The shaders are
// hal/vulkan's (hal/vulkan/ops.h), in the build the device's features allow.
//
// This header needs no Vulkan headers: built without Vulkan (-DAIRT_VULKAN=OFF or the
// headers missing) the functions below answer "built without Vulkan".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/model/backend.h"

namespace airt::model {

// The regions a Vulkan backend for `m` and `p` would allocate (RegionKind::kDevice).
Status vulkan_backend_plan(const Model& m, const BackendParams& p, MemoryPlan& plan);
// Opens device p.gpu (-1: the first usable one) with the features not in p.masked.
// Errors name the device and what it lacks; "no Vulkan device" when there is none.
Result<std::unique_ptr<Backend>> vulkan_backend_create(const Model& m, const BackendParams& p);

// A device `auto` may choose.
struct VulkanCandidate {
  int32_t index = 0;  // --gpu N
  std::string name;
};
// The devices `auto` measures (gpu >= 0: only that one): every device that is not a
// CPU-type device. Each device left out, or the reason there are none, is a line in notes.
std::vector<VulkanCandidate> vulkan_candidates(int32_t gpu, std::vector<std::string>& notes);

}  // namespace airt::model
