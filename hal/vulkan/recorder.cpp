#include "hal/vulkan/recorder.h"

#include <algorithm>
#include <utility>

#include "hal/vulkan/context.h"
#include "hal/vulkan/vk_check.h"

namespace airt::hal::vk {

Result<Recorder> Recorder::create(Context& ctx, uint32_t max_timestamps) {
  Recorder r;
  r.ctx_ = &ctx;
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = ctx.command_pool();
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  AIRT_VK(vkAllocateCommandBuffers(ctx.device(), &ai, &r.cb_), "vkAllocateCommandBuffers");
  if (max_timestamps) {
    if (!ctx.info().timestamps)
      return errorf(Error::kBackendUnsupported, "vulkan: %s cannot write timestamps on its compute queue (no --profile)",
                    ctx.info().name.c_str());
    VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = max_timestamps;
    AIRT_VK(vkCreateQueryPool(ctx.device(), &qi, nullptr, &r.queries_), "vkCreateQueryPool");
    r.max_stamps_ = max_timestamps;
  }
  return r;
}

Recorder::~Recorder() { release(); }

Recorder::Recorder(Recorder&& o) noexcept { *this = std::move(o); }

Recorder& Recorder::operator=(Recorder&& o) noexcept {
  if (this == &o) return *this;
  release();
  ctx_ = std::exchange(o.ctx_, nullptr);
  cb_ = std::exchange(o.cb_, VK_NULL_HANDLE);
  queries_ = std::exchange(o.queries_, VK_NULL_HANDLE);
  max_stamps_ = std::exchange(o.max_stamps_, 0);
  n_stamps_ = std::exchange(o.n_stamps_, 0);
  recording_ = std::exchange(o.recording_, false);
  recorded_ = std::exchange(o.recorded_, false);
  sets_ = std::move(o.sets_);
  o.sets_.clear();
  return *this;
}

void Recorder::free_sets() {
  if (!sets_.empty())
    vkFreeDescriptorSets(ctx_->device(), ctx_->descriptor_pool(), uint32_t(sets_.size()), sets_.data());
  sets_.clear();
}

void Recorder::release() {
  if (!ctx_) return;
  free_sets();
  if (queries_) vkDestroyQueryPool(ctx_->device(), queries_, nullptr);
  if (cb_) vkFreeCommandBuffers(ctx_->device(), ctx_->command_pool(), 1, &cb_);
  ctx_ = nullptr;
}

Status Recorder::begin() {
  if (!ctx_) return errorf(Error::kInternal, "vulkan: begin() on an empty recorder");
  free_sets();
  AIRT_VK(vkResetCommandBuffer(cb_, 0), "vkResetCommandBuffer");
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  AIRT_VK(vkBeginCommandBuffer(cb_, &bi), "vkBeginCommandBuffer");
  if (queries_) vkCmdResetQueryPool(cb_, queries_, 0, max_stamps_);
  n_stamps_ = 0;
  recording_ = true;
  recorded_ = false;
  return ok_status();
}

Status Recorder::check_binding(const Kernel& k, const BufferRef& r, uint32_t i) const {
  if (!r.buffer || !r.buffer->handle())
    return errorf(Error::kInternal, "vulkan: %s: binding %u has no buffer", k.name().c_str(), i);
  const uint64_t align = ctx_->info().min_storage_offset_alignment;
  if (align && r.offset % align)
    return errorf(Error::kInternal, "vulkan: %s: binding %u offset %llu is not a multiple of %llu", k.name().c_str(), i,
                  static_cast<unsigned long long>(r.offset), static_cast<unsigned long long>(align));
  if (r.offset > r.buffer->bytes() || r.size > r.buffer->bytes() - r.offset)
    return errorf(Error::kInternal, "vulkan: %s: binding %u (%llu bytes at %llu) is past its buffer (%llu bytes)",
                  k.name().c_str(), i, static_cast<unsigned long long>(r.size),
                  static_cast<unsigned long long>(r.offset), static_cast<unsigned long long>(r.buffer->bytes()));
  return ok_status();
}

Status Recorder::dispatch(const Kernel& k, std::span<const BufferRef> bindings, const void* push, uint32_t gx,
                          uint32_t gy, uint32_t gz) {
  if (!recording_) return errorf(Error::kInternal, "vulkan: %s: dispatch outside begin()/end()", k.name().c_str());
  if (bindings.size() != k.bindings())
    return errorf(Error::kInternal, "vulkan: %s takes %u bindings, got %zu", k.name().c_str(), k.bindings(),
                  bindings.size());
  VkDescriptorBufferInfo infos[Context::kMaxBindings];
  VkWriteDescriptorSet writes[Context::kMaxBindings];
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = ctx_->descriptor_pool();
  ai.descriptorSetCount = 1;
  const VkDescriptorSetLayout layout = k.set_layout();
  ai.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  AIRT_VK(vkAllocateDescriptorSets(ctx_->device(), &ai, &set), "vkAllocateDescriptorSets (too many dispatches recorded)");
  sets_.push_back(set);
  for (uint32_t i = 0; i < bindings.size(); ++i) {
    AIRT_TRY(check_binding(k, bindings[i], i));
    const BufferRef& r = bindings[i];
    infos[i] = {r.buffer->handle(), r.offset, r.size ? r.size : VK_WHOLE_SIZE};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(ctx_->device(), uint32_t(bindings.size()), writes, 0, nullptr);
  vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline());
  vkCmdBindDescriptorSets(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout(), 0, 1, &set, 0, nullptr);
  if (k.push_bytes()) vkCmdPushConstants(cb_, k.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, k.push_bytes(), push);
  vkCmdDispatch(cb_, gx, gy, gz);
  return ok_status();
}

void Recorder::barrier() {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cb_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

Status Recorder::copy(const BufferRef& src, const BufferRef& dst, uint64_t bytes) {
  if (!recording_) return errorf(Error::kInternal, "vulkan: copy outside begin()/end()");
  if (src.offset + bytes > src.buffer->bytes() || dst.offset + bytes > dst.buffer->bytes())
    return errorf(Error::kInternal, "vulkan: copy of %llu bytes is past a buffer's end",
                  static_cast<unsigned long long>(bytes));
  VkBufferCopy region{src.offset, dst.offset, bytes};
  vkCmdCopyBuffer(cb_, src.buffer->handle(), dst.buffer->handle(), 1, &region);
  return ok_status();
}

Result<uint32_t> Recorder::timestamp() {
  if (!recording_) return errorf(Error::kInternal, "vulkan: timestamp outside begin()/end()");
  if (n_stamps_ >= max_stamps_)
    return errorf(Error::kResourceExhausted, "vulkan: all %u timestamp slots are used (Recorder::create's max)",
                  max_stamps_);
  vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, n_stamps_);
  return n_stamps_++;
}

Status Recorder::end() {
  if (!recording_) return errorf(Error::kInternal, "vulkan: end() without begin()");
  recording_ = false;
  AIRT_VK(vkEndCommandBuffer(cb_), "vkEndCommandBuffer");
  recorded_ = true;
  return ok_status();
}

Status Recorder::submit_and_wait() {
  if (!recorded_) return errorf(Error::kInternal, "vulkan: submit of a recorder with no finished recording");
  return ctx_->submit_and_wait(cb_);
}

Status Recorder::timestamps_ns(std::span<double> ns) const {
  if (ns.size() > n_stamps_)
    return errorf(Error::kInternal, "vulkan: %zu timestamps asked, %u recorded", ns.size(), n_stamps_);
  if (ns.empty()) return ok_status();
  // Read in chunks so a profile of any length needs no allocation.
  constexpr uint32_t kChunk = 64;
  uint64_t ticks[kChunk], first = 0;
  const double period = ctx_->info().timestamp_period_ns;
  for (uint32_t at = 0; at < ns.size(); at += kChunk) {
    const uint32_t n = std::min<uint32_t>(kChunk, uint32_t(ns.size()) - at);
    AIRT_VK(vkGetQueryPoolResults(ctx_->device(), queries_, at, n, sizeof ticks, ticks, sizeof(uint64_t),
                                  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
            "vkGetQueryPoolResults");
    if (at == 0) first = ticks[0];
    for (uint32_t i = 0; i < n; ++i) ns[at + i] = double(ticks[i] - first) * period;
  }
  return ok_status();
}

}  // namespace airt::hal::vk
