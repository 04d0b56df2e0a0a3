// The Vulkan device layer on whatever device there is (Mesa's lavapipe in CI): devices
// are listed, a context opens with features masked, buffers move bytes both ways, a
// kernel from embedded SPIR-V runs, and a recorded command buffer replays. Without a
// device (or a build without Vulkan) every test skips with "no Vulkan device".
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/vulkan.h"

namespace airt::hal::vk {
namespace {

// The first device's context with `mask`, or a skip when there is no device.
#define OPEN_OR_SKIP(var, mask)                                     \
  auto var##_r = Context::create(kAnyDevice, mask);                 \
  if (!var##_r.ok()) {                                              \
    auto devs = enumerate_devices();                                \
    if (devs.ok() && devs->empty()) GTEST_SKIP() << "no Vulkan device"; \
    FAIL() << var##_r.error().message;                              \
  }                                                                 \
  Context& var = **var##_r

// add.comp's push constants: n, then the offsets of a, b and out in floats.
struct AddPush {
  uint32_t n, a_off, b_off, o_off;
};

TEST(VulkanDevice, EnumeratesWithoutFailing) {
  auto devs = enumerate_devices();
  ASSERT_TRUE(devs.ok()) << devs.error().message;
  if (devs->empty()) GTEST_SKIP() << "no Vulkan device";
  for (const DeviceInfo& d : *devs) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_FALSE(d.heaps.empty()) << d.name;
    EXPECT_GT(d.max_shared_memory, 0u) << d.name;
    if (d.type == DeviceType::kCpu) {
      EXPECT_NE(auto_skip_reason(d).find("CPU device"), std::string::npos);
    }
  }
}

// Host import is a feature only where the extension is there and host memory is the
// device's own (unified memory or a CPU device); its alignment is a power of two.
TEST(VulkanDevice, HostImportWhereTheExtensionAndUnifiedMemoryAre) {
  auto devs = enumerate_devices();
  ASSERT_TRUE(devs.ok()) << devs.error().message;
  if (devs->empty()) GTEST_SKIP() << "no Vulkan device";
  EXPECT_EQ(features_name(kFeatureHostImport), "host-import");
  for (const DeviceInfo& d : *devs) {
    const bool on = d.features() & kFeatureHostImport;
    EXPECT_EQ(on, d.host_import && (d.unified_memory || d.type == DeviceType::kCpu)) << d.name;
    if (!d.host_import) continue;
    EXPECT_GT(d.min_import_alignment, 0u) << d.name;
    EXPECT_EQ(d.min_import_alignment & (d.min_import_alignment - 1), 0u) << d.name;
  }
  OPEN_OR_SKIP(ctx, kFeatureAll);
  EXPECT_EQ(ctx.info().index, best_device(*devs));
  EXPECT_EQ(ctx.has(kFeatureHostImport), ctx.host_pointer_properties() != nullptr);
  OPEN_OR_SKIP(masked, kFeatureAll & ~kFeatureHostImport);
  EXPECT_FALSE(masked.has(kFeatureHostImport));
  EXPECT_EQ(masked.host_pointer_properties(), nullptr);
}

TEST(VulkanDevice, MaskTurnsFeaturesOff) {
  OPEN_OR_SKIP(all, kFeatureAll);
  EXPECT_EQ(all.features(), all.info().features());
  OPEN_OR_SKIP(none, 0);
  EXPECT_EQ(none.features(), 0u);
  EXPECT_EQ(features_name(0), "none");
}

TEST(VulkanDevice, BadIndexNamesTheRange) {
  auto devs = enumerate_devices();
  if (!devs.ok() || devs->empty()) GTEST_SKIP() << "no Vulkan device";
  auto ctx = Context::create(int(devs->size()) + 3);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().message.find("--gpu"), std::string::npos) << ctx.error().message;
}

TEST(VulkanDevice, BuffersRoundTripBothKinds) {
  OPEN_OR_SKIP(ctx, kFeatureAll);
  for (MemoryKind kind : {MemoryKind::kDevice, MemoryKind::kHost}) {
    auto b = Buffer::create(ctx, 1003, kind, "test buffer");
    ASSERT_TRUE(b.ok()) << b.error().message;
    std::vector<uint8_t> in(1003), out(1003);
    for (size_t i = 0; i < in.size(); ++i) in[i] = uint8_t(i * 7 + 1);
    ASSERT_TRUE(b->upload(0, in.data(), in.size()).ok());
    ASSERT_TRUE(b->download(0, out.data(), out.size()).ok());
    EXPECT_EQ(in, out);
    auto past = b->upload(1001, in.data(), 4);  // 1003 bytes round up to 1004
    ASSERT_FALSE(past.ok());
    EXPECT_NE(past.error().message.find("past the buffer"), std::string::npos);
  }
}

TEST(VulkanDevice, UnknownShaderIsNamed) {
  OPEN_OR_SKIP(ctx, kFeatureAll);
  auto k = Kernel::create(ctx, "no_such_shader", 1, 0);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("no_such_shader"), std::string::npos);
  EXPECT_NE(k.error().message.find("add"), std::string::npos) << "lists what is built";
}

// add over an odd length, recorded once and replayed with new inputs; timestamps around it.
TEST(VulkanDevice, AddRunsAndReplays) {
  OPEN_OR_SKIP(ctx, kFeatureAll);
  const uint32_t n = 1001;
  auto k = Kernel::create(ctx, "add", 3, sizeof(AddPush), {64});
  ASSERT_TRUE(k.ok()) << k.error().message;
  auto a = Buffer::create(ctx, n * 4, MemoryKind::kDevice, "a");
  auto b = Buffer::create(ctx, n * 4, MemoryKind::kDevice, "b");
  auto d = Buffer::create(ctx, n * 4, MemoryKind::kHost, "dst");
  ASSERT_TRUE(a.ok() && b.ok() && d.ok());
  const bool stamps = ctx.info().timestamps;
  auto rec = Recorder::create(ctx, stamps ? 2 : 0);
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  const AddPush push{n, 0, 0, 0};
  ASSERT_TRUE(rec->begin().ok());
  if (stamps) {
    ASSERT_TRUE(rec->timestamp().ok());
  }
  ASSERT_TRUE(rec->dispatch(*k, {*a, *b, *d}, &push, (n + 63) / 64).ok());
  if (stamps) {
    ASSERT_TRUE(rec->timestamp().ok());
  }
  ASSERT_TRUE(rec->end().ok());
  EXPECT_EQ(rec->dispatches(), 1u);

  std::vector<float> x(n), y(n), out(n);
  for (int round = 0; round < 2; ++round) {
    for (uint32_t i = 0; i < n; ++i) x[i] = float(i) * (round + 1), y[i] = 0.5f - float(i % 13);
    ASSERT_TRUE(a->upload(0, x.data(), n * 4).ok());
    ASSERT_TRUE(b->upload(0, y.data(), n * 4).ok());
    ASSERT_TRUE(rec->submit_and_wait().ok());
    ASSERT_TRUE(d->download(0, out.data(), n * 4).ok());
    for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(out[i], x[i] + y[i]) << "round " << round << " i " << i;
  }
  if (stamps) {
    double ns[2];
    ASSERT_TRUE(rec->timestamps_ns(ns).ok());
    EXPECT_EQ(ns[0], 0.0);
    EXPECT_GE(ns[1], 0.0);
  }
}

TEST(VulkanDevice, DispatchChecksBindings) {
  OPEN_OR_SKIP(ctx, kFeatureAll);
  auto k = Kernel::create(ctx, "add", 3, sizeof(AddPush), {64});
  auto a = Buffer::create(ctx, 64, MemoryKind::kDevice, "a");
  auto rec = Recorder::create(ctx);
  ASSERT_TRUE(k.ok() && a.ok() && rec.ok());
  const AddPush push{16, 0, 0, 0};
  ASSERT_TRUE(rec->begin().ok());
  auto r = rec->dispatch(*k, {*a, *a}, &push, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("takes 3 bindings"), std::string::npos) << r.error().message;
  ASSERT_TRUE(rec->end().ok());
}

// airt info names every device, and says why `auto` would not use a CPU device; with
// the loader pointed at no driver it reports "no Vulkan device" and still succeeds.
TEST(VulkanDevice, InfoListsDevicesOrSaysThereAreNone) {
  auto devs = enumerate_devices();
  ASSERT_TRUE(devs.ok()) << devs.error().message;
  const test::CommandResult r = test::run_airt({"info"});
  ASSERT_EQ(r.status, 0) << r.err;
  if (devs->empty()) {
    EXPECT_NE(r.out.find("no Vulkan device"), std::string::npos) << r.out;
  } else {
    EXPECT_NE(r.out.find("vulkan 0:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("host import "), std::string::npos) << r.out;
    if ((*devs)[0].type == DeviceType::kCpu) {
      EXPECT_NE(r.out.find("is a CPU device, not used by auto"), std::string::npos) << r.out;
    }
  }
  const char* old = std::getenv("VK_ICD_FILENAMES");
  const std::string saved = old ? old : "";
  setenv("VK_ICD_FILENAMES", "/nonexistent/no_driver.json", 1);
  const test::CommandResult none = test::run_airt({"info", "-o", "json"});
  if (old) setenv("VK_ICD_FILENAMES", saved.c_str(), 1);
  else unsetenv("VK_ICD_FILENAMES");
  ASSERT_EQ(none.status, 0) << none.err;
  EXPECT_NE(none.out.find("\"vulkan\": []"), std::string::npos) << none.out;
}

}  // namespace
}  // namespace airt::hal::vk

#else

TEST(VulkanDevice, NotBuilt) { GTEST_SKIP() << "no Vulkan device (this build has AIRT_HAVE_VULKAN=0)"; }

#endif
