// A command buffer recorded once and submitted many times: bind + dispatch, barriers,
// copies and timestamps. Recording allocates (descriptor sets, one per dispatch); a replay
// (submit_and_wait) allocates nothing, which is what the token loop does.
//
// A recording captures buffer handles, offsets and push-constant values: a replay reads
// whatever those buffers hold at submit time. The buffers and kernels must outlive the
// recording (until the next begin() or the Recorder's end).
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <span>
#include <vector>

#include "hal/vulkan/buffer.h"
#include "hal/vulkan/kernel.h"
#include "runtime/core/result.h"

namespace airt::hal::vk {

class Context;

class Recorder {
 public:
  Recorder() = default;
  // `max_timestamps` timestamp slots (0: none; timestamp() then fails).
  static Result<Recorder> create(Context& ctx, uint32_t max_timestamps = 0);
  ~Recorder();
  Recorder(Recorder&& o) noexcept;
  Recorder& operator=(Recorder&& o) noexcept;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Starts a new recording, dropping the previous one.
  Status begin();
  // Binds `kernel` with `bindings` (one per binding, in order) and `push` (exactly the
  // kernel's push_bytes) and dispatches groups_x * groups_y * groups_z workgroups.
  Status dispatch(const Kernel& kernel, std::span<const BufferRef> bindings, const void* push, uint32_t groups_x,
                  uint32_t groups_y = 1, uint32_t groups_z = 1);
  Status dispatch(const Kernel& kernel, std::initializer_list<BufferRef> bindings, const void* push,
                  uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1) {
    return dispatch(kernel, std::span<const BufferRef>(bindings.begin(), bindings.size()), push, groups_x, groups_y,
                    groups_z);
  }
  // Makes the writes of everything recorded so far visible to everything after it.
  void barrier();
  // Copies `bytes` from src to dst (a barrier is still needed before a shader reads dst).
  Status copy(const BufferRef& src, const BufferRef& dst, uint64_t bytes);
  // Writes a timestamp after all earlier work; its slot number is returned.
  Result<uint32_t> timestamp();
  Status end();

  // Submits the recording and waits for it; may be called any number of times.
  Status submit_and_wait();
  // After a submit: ns[i] = time of timestamp i minus time of timestamp 0.
  Status timestamps_ns(std::span<double> ns) const;

  uint32_t dispatches() const { return uint32_t(sets_.size()); }
  uint32_t timestamps() const { return n_stamps_; }
  uint32_t max_timestamps() const { return max_stamps_; }
  VkCommandBuffer handle() const { return cb_; }

 private:
  void release();
  void free_sets();
  Status check_binding(const Kernel& k, const BufferRef& r, uint32_t i) const;

  Context* ctx_ = nullptr;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  uint32_t max_stamps_ = 0, n_stamps_ = 0;
  bool recording_ = false, recorded_ = false;
  std::vector<VkDescriptorSet> sets_;
};

}  // namespace airt::hal::vk
