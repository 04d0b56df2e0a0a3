// A storage buffer with its own VkDeviceMemory: one per planned region.
//
// kDevice buffers live in device-local memory; where that memory is also host-visible
// (unified-memory SoCs, lavapipe) they are mapped for their whole life and upload() and
// download() are memcpy. Otherwise upload()/download() go through a temporary staging
// buffer and a one-shot copy (start-up and test paths, not the token loop). kHost buffers
// are host-visible (cached where possible): for results the host reads every step.
// Imported buffers (import_host) are host memory the caller owns, bound in place: no
// allocation, no copy, read-only for both sides.
#pragma once

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>

#include "runtime/core/result.h"

namespace airt::hal::vk {

class Context;

enum class MemoryKind { kDevice, kHost };

class Buffer {
 public:
  Buffer() = default;
  // `name` is used in error messages only ("kv cache", "weights blk.3").
  static Result<Buffer> create(Context& ctx, uint64_t bytes, MemoryKind kind, const char* name);
  // `bytes` of host memory at `host` as a storage buffer (VK_EXT_external_memory_host),
  // where ctx has kFeatureHostImport: `host` and `bytes` multiples of the device's
  // min_import_alignment. The memory must stay mapped and unchanged until the Buffer is
  // destroyed (a read-only file mapping serves: the shaders only read it). Fails, naming
  // why, where the driver refuses the pointer (some pin pages for writing, which a
  // read-only mapping refuses): the caller then copies instead.
  static Result<Buffer> import_host(Context& ctx, const void* host, uint64_t bytes, const char* name);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  uint64_t bytes() const { return bytes_; }  // as asked, rounded up to whole 4-byte words
  // The host address of byte 0 while mapped, else nullptr. Coherent: no flush needed,
  // but the host may read only after the GPU work that wrote it has been waited for.
  void* mapped() const { return mapped_; }
  bool device_local() const { return device_local_; }
  bool imported() const { return imported_; }  // import_host(): upload() refuses

  // Copies host bytes in / out at `offset`; waits for the copy to finish.
  Status upload(uint64_t offset, const void* src, uint64_t n);
  Status download(uint64_t offset, void* dst, uint64_t n) const;

 private:
  void release();
  Status check_range(uint64_t offset, uint64_t n, const char* what) const;

  Context* ctx_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  uint64_t bytes_ = 0;
  void* mapped_ = nullptr;
  bool device_local_ = false;
  bool imported_ = false;
  const void* host_ = nullptr;  // imported: the caller's memory (read by download())
};

// A slice of a buffer bound to one shader binding. size 0 = to the end of the buffer.
struct BufferRef {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;

  BufferRef() = default;
  BufferRef(const Buffer& b, uint64_t off = 0, uint64_t n = 0) : buffer(&b), offset(off), size(n) {}  // NOLINT
};

}  // namespace airt::hal::vk
