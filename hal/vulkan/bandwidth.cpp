#include "hal/vulkan/bandwidth.h"

#include <algorithm>

#include "hal/vulkan/buffer.h"
#include "hal/vulkan/context.h"
#include "hal/vulkan/kernel.h"
#include "hal/vulkan/recorder.h"
#include "runtime/core/clock.h"

namespace airt::hal::vk {
namespace {

struct CopyPush {
  uint32_t n, stride;
};

constexpr uint32_t kWorkgroup = 256;
constexpr uint32_t kGroups = 4096;  // a grid-stride loop: within every device's x limit

}  // namespace

Result<CopyBandwidth> measure_copy_bandwidth(Context& ctx, uint64_t bytes, int reps) {
  // Each buffer within one binding's reach.
  const uint64_t range = ctx.info().max_storage_range ? ctx.info().max_storage_range : bytes;
  const uint64_t words = std::min<uint64_t>(std::min(bytes, range) / 16, UINT32_MAX);
  if (words == 0) return errorf(Error::kRequestOutOfRange, "vulkan bandwidth: %llu bytes is under one 16-byte word",
                                static_cast<unsigned long long>(bytes));
  Buffer src = AIRT_TRY(Buffer::create(ctx, words * 16, MemoryKind::kDevice, "bandwidth source"));
  Buffer dst = AIRT_TRY(Buffer::create(ctx, words * 16, MemoryKind::kDevice, "bandwidth destination"));
  Kernel k = AIRT_TRY(Kernel::create(ctx, "copy_words", 2, sizeof(CopyPush), {kWorkgroup}));
  CopyBandwidth out;
  out.timestamps = ctx.info().timestamps;
  Recorder r = AIRT_TRY(Recorder::create(ctx, out.timestamps ? 2 : 0));
  const CopyPush push{uint32_t(words), kWorkgroup * kGroups};
  AIRT_TRY(r.begin());
  if (out.timestamps) AIRT_TRY(r.timestamp());
  AIRT_TRY(r.dispatch(k, {BufferRef(src), BufferRef(dst)}, &push, kGroups));
  if (out.timestamps) AIRT_TRY(r.timestamp());
  AIRT_TRY(r.end());
  AIRT_TRY(r.submit_and_wait());  // warm-up: first-touch of the pages, pipeline caches
  double best_s = 0;
  for (int i = 0; i < std::max(1, reps); ++i) {
    const int64_t t0 = now_ns();
    AIRT_TRY(r.submit_and_wait());
    double s = double(now_ns() - t0) * 1e-9;
    if (out.timestamps) {
      double ns[2];
      AIRT_TRY(r.timestamps_ns(ns));
      if (ns[1] > 0) s = ns[1] * 1e-9;
    }
    if (best_s == 0 || s < best_s) best_s = s;
  }
  out.bytes = words * 16;
  out.bytes_per_s = best_s > 0 ? 2.0 * double(words * 16) / best_s : 0;
  return out;
}

}  // namespace airt::hal::vk
