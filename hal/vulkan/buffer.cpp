#include "hal/vulkan/buffer.h"

#include <cstring>
#include <utility>

#include "hal/vulkan/context.h"
#include "hal/vulkan/vk_check.h"

namespace airt::hal::vk {
namespace {

constexpr VkMemoryPropertyFlags kDeviceLocal = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
constexpr VkMemoryPropertyFlags kMappable = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;

// The memory type for a kind, best first: device-local and mappable (unified memory) or
// device-local alone for kDevice; mappable and host-cached, or mappable alone, for kHost.
int pick_type(const Context& ctx, uint32_t bits, MemoryKind kind) {
  const bool discrete = ctx.info().type == DeviceType::kDiscrete;
  if (kind == MemoryKind::kDevice) {
    // A discrete card's mappable device-local window is small (BAR): not for whole regions.
    int t = discrete ? -1 : ctx.memory_type(bits, kDeviceLocal | kMappable);
    if (t < 0) t = ctx.memory_type(bits, kDeviceLocal);
    if (t < 0) t = ctx.memory_type(bits, 0);
    return t;
  }
  int t = ctx.memory_type(bits, kMappable | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  if (t < 0) t = ctx.memory_type(bits, kMappable);
  return t;
}

}  // namespace

Result<Buffer> Buffer::create(Context& ctx, uint64_t bytes, MemoryKind kind, const char* name) {
  // Whole words: shaders read storage as 32-bit words, and a binding's last partial word
  // would be out of range (an 18-byte Q4_0 block may end there). Vulkan forbids empty
  // buffers; an empty region still binds.
  bytes = bytes == 0 ? 4 : (bytes + 3) / 4 * 4;
  if (bytes > ctx.info().max_storage_range && ctx.info().max_storage_range)
    return errorf(Error::kResourceOverBudget,
                  "vulkan: %s: %llu bytes is over %s's largest storage buffer (%llu bytes); split the region",
                  name, static_cast<unsigned long long>(bytes), ctx.info().name.c_str(),
                  static_cast<unsigned long long>(ctx.info().max_storage_range));
  Buffer b;
  b.ctx_ = &ctx;
  b.bytes_ = bytes;
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = bytes;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  AIRT_VK(vkCreateBuffer(ctx.device(), &bi, nullptr, &b.buffer_), name);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx.device(), b.buffer_, &req);
  const int type = pick_type(ctx, req.memoryTypeBits, kind);
  if (type < 0)
    return errorf(Error::kBackendUnsupported, "vulkan: %s: %s has no memory type for a %s buffer", name,
                  ctx.info().name.c_str(), kind == MemoryKind::kHost ? "host-visible" : "device");
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = uint32_t(type);
  AIRT_VK(vkAllocateMemory(ctx.device(), &ai, nullptr, &b.memory_), name);
  AIRT_VK(vkBindBufferMemory(ctx.device(), b.buffer_, b.memory_, 0), name);
  const VkMemoryPropertyFlags flags = ctx.memory_flags(uint32_t(type));
  b.device_local_ = flags & kDeviceLocal;
  if ((flags & kMappable) == kMappable) AIRT_VK(vkMapMemory(ctx.device(), b.memory_, 0, VK_WHOLE_SIZE, 0, &b.mapped_), name);
  return b;
}

Result<Buffer> Buffer::import_host(Context& ctx, const void* host, uint64_t bytes, const char* name) {
  const uint64_t align = ctx.info().min_import_alignment;
  if (!ctx.has(kFeatureHostImport) || !ctx.host_pointer_properties())
    return errorf(Error::kBackendUnsupported,
                  "vulkan: %s: %s cannot import host memory (no VK_EXT_external_memory_host, or masked)", name,
                  ctx.info().name.c_str());
  if (align == 0 || reinterpret_cast<uintptr_t>(host) % align || bytes == 0 || bytes % align)
    return errorf(Error::kInternal, "vulkan: %s: %llu bytes at %p are not whole %llu-byte import units", name,
                  static_cast<unsigned long long>(bytes), host, static_cast<unsigned long long>(align));
  Buffer b;
  b.ctx_ = &ctx;
  b.bytes_ = bytes;
  b.imported_ = true;
  VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
  ext.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &ext};
  bi.size = bytes;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  AIRT_VK(vkCreateBuffer(ctx.device(), &bi, nullptr, &b.buffer_), name);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx.device(), b.buffer_, &req);
  VkMemoryHostPointerPropertiesEXT hp{VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
  AIRT_VK(ctx.host_pointer_properties()(ctx.device(), VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
                                        host, &hp),
          "vkGetMemoryHostPointerPropertiesEXT");
  const int type = ctx.memory_type(req.memoryTypeBits & hp.memoryTypeBits, 0);
  if (type < 0 || req.size > bytes)
    return errorf(Error::kBackendUnsupported,
                  "vulkan: %s: %s has no memory type a storage buffer over this host memory can use", name,
                  ctx.info().name.c_str());
  VkImportMemoryHostPointerInfoEXT import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT};
  import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
  import.pHostPointer = const_cast<void*>(host);  // the shaders only read it
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &import};
  ai.allocationSize = bytes;
  ai.memoryTypeIndex = uint32_t(type);
  AIRT_VK(vkAllocateMemory(ctx.device(), &ai, nullptr, &b.memory_), name);
  AIRT_VK(vkBindBufferMemory(ctx.device(), b.buffer_, b.memory_, 0), name);
  b.device_local_ = ctx.memory_flags(uint32_t(type)) & kDeviceLocal;
  b.host_ = host;
  return b;
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& o) noexcept { *this = std::move(o); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this == &o) return *this;
  release();
  ctx_ = std::exchange(o.ctx_, nullptr);
  buffer_ = std::exchange(o.buffer_, VK_NULL_HANDLE);
  memory_ = std::exchange(o.memory_, VK_NULL_HANDLE);
  bytes_ = std::exchange(o.bytes_, 0);
  mapped_ = std::exchange(o.mapped_, nullptr);
  device_local_ = std::exchange(o.device_local_, false);
  imported_ = std::exchange(o.imported_, false);
  host_ = std::exchange(o.host_, nullptr);
  return *this;
}

void Buffer::release() {
  if (!ctx_) return;
  if (mapped_) vkUnmapMemory(ctx_->device(), memory_);
  if (buffer_) vkDestroyBuffer(ctx_->device(), buffer_, nullptr);
  if (memory_) vkFreeMemory(ctx_->device(), memory_, nullptr);
  ctx_ = nullptr;
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
  mapped_ = nullptr;
  imported_ = false;
  host_ = nullptr;
}

Status Buffer::check_range(uint64_t offset, uint64_t n, const char* what) const {
  if (!ctx_) return errorf(Error::kInternal, "vulkan: %s on an empty buffer", what);
  if (offset > bytes_ || n > bytes_ - offset)
    return errorf(Error::kRequestOutOfRange, "vulkan: %s of %llu bytes at %llu is past the buffer's %llu bytes", what,
                  static_cast<unsigned long long>(n), static_cast<unsigned long long>(offset),
                  static_cast<unsigned long long>(bytes_));
  return ok_status();
}

Status Buffer::upload(uint64_t offset, const void* src, uint64_t n) {
  AIRT_TRY(check_range(offset, n, "upload"));
  if (imported_) return errorf(Error::kInternal, "vulkan: upload into imported host memory, which is read-only");
  if (n == 0) return ok_status();
  if (mapped_) {
    std::memcpy(static_cast<char*>(mapped_) + offset, src, n);
    return ok_status();
  }
  Buffer staging = AIRT_TRY(Buffer::create(*ctx_, n, MemoryKind::kHost, "upload staging"));
  std::memcpy(staging.mapped_, src, n);
  VkCommandBuffer cb = AIRT_TRY(ctx_->begin_one_shot());
  VkBufferCopy region{0, offset, n};
  full_barrier(cb);
  vkCmdCopyBuffer(cb, staging.buffer_, buffer_, 1, &region);
  full_barrier(cb);
  return ctx_->finish_one_shot(cb);
}

Status Buffer::download(uint64_t offset, void* dst, uint64_t n) const {
  AIRT_TRY(check_range(offset, n, "download"));
  if (n == 0) return ok_status();
  if (mapped_ || host_) {
    std::memcpy(dst, static_cast<const char*>(mapped_ ? mapped_ : host_) + offset, n);
    return ok_status();
  }
  Buffer staging = AIRT_TRY(Buffer::create(*ctx_, n, MemoryKind::kHost, "download staging"));
  VkCommandBuffer cb = AIRT_TRY(ctx_->begin_one_shot());
  VkBufferCopy region{offset, 0, n};
  full_barrier(cb);
  vkCmdCopyBuffer(cb, buffer_, staging.buffer_, 1, &region);
  full_barrier(cb);
  AIRT_TRY(ctx_->finish_one_shot(cb));
  std::memcpy(dst, staging.mapped_, n);
  return ok_status();
}

}  // namespace airt::hal::vk
