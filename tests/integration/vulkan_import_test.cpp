// Weights imported without a copy (hal::vk::Buffer::import_host, VulkanBackend::bind):
// on a device with kFeatureHostImport (lavapipe has it) the plan shows each tier's weights
// as mapped and its device total drops by their size; the logits are bit-identical to the
// copying path (masked "no host import"), since the shaders read the same bytes; an
// import the device cannot take fails naming why. Skips with "no Vulkan device" where
// there is none, and the import cases where the device cannot import.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/core/memory_plan.h"
#include "runtime/engine/engine.h"
#include "runtime/model/backend.h"
#include "runtime/model/model.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/buffer.h"
#include "hal/vulkan/context.h"
#include "hal/vulkan/device.h"
#endif

namespace airt {
namespace {

#if AIRT_HAVE_VULKAN

using hal::vk::kFeatureHostImport;

// The device the backend opens by default, if it can import host memory.
bool can_import() {
  auto d = hal::vk::enumerate_devices();
  if (!d.ok() || d->empty()) return false;
  const int i = hal::vk::best_device(*d);
  return i >= 0 && ((*d)[size_t(i)].features() & kFeatureHostImport);
}

#define REQUIRE_IMPORT()                                                                   \
  do {                                                                                     \
    auto devs = hal::vk::enumerate_devices();                                              \
    if (!devs.ok() || devs->empty()) GTEST_SKIP() << "no Vulkan device";                  \
    if (!can_import()) GTEST_SKIP() << "the Vulkan device cannot import host memory";     \
  } while (0)

model::BackendParams vulkan_params(uint32_t masked) {
  model::BackendParams p;
  p.kind = governor::BackendKind::kVulkan;
  p.masked = masked;
  p.n_rows = 16;
  p.n_logits = 16;
  p.max_visible = 64;
  p.kv.n_seq = 1;
  p.kv.n_ctx = 64;
  return p;
}

const Region* find_region(const MemoryPlan& plan, const std::string& name) {
  for (const Region& r : plan.regions())
    if (r.name == name) return &r;
  return nullptr;
}

TEST(VulkanImport, PlanShowsWeightsMappedAndDeviceBytesDropByTheirSize) {
  REQUIRE_IMPORT();
  const std::string path = test::model_path("synth-llama-mid-q8_0.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  MemoryPlan on, off;
  ASSERT_TRUE(model::backend_plan(**m, vulkan_params(0), on).ok());
  ASSERT_TRUE(model::backend_plan(**m, vulkan_params(kFeatureHostImport), off).ok());
  const std::string name = std::string("vulkan weights ") + (*m)->tier_name(0);
  const Region* a = find_region(on, name);
  const Region* b = find_region(off, name);
  ASSERT_TRUE(a && b) << on.to_string();
  EXPECT_EQ(a->kind, RegionKind::kMapped) << on.to_string();
  EXPECT_EQ(a->bytes, 0u) << "the mapped weights are counted once, by the model's own region";
  EXPECT_NE(a->detail.find("imported in place"), std::string::npos) << a->detail;
  EXPECT_EQ(b->kind, RegionKind::kDevice);
  EXPECT_NE(b->detail.find("host import masked"), std::string::npos) << b->detail;
  EXPECT_GE(b->bytes, (*m)->tier(0).weight_bytes);
  EXPECT_EQ(off.device_bytes() - on.device_bytes(), b->bytes);
  EXPECT_EQ(on.mapped_bytes(), off.mapped_bytes());
  std::printf("%s: device total %zu B imported, %zu B copying\n", path.c_str(), on.device_bytes(), off.device_bytes());
}

using test::Loaded;

Loaded load(const std::string& path, uint32_t masked) {
  Loaded l = test::load_model(path);
  if (!l.tok) return l;
  engine::EngineConfig c = test::scoring_config(80, 16);
  c.backend = governor::BackendKind::kVulkan;
  c.vk_masked = masked;
  test::make_engine(l, c);
  return l;
}

// The bound backend's own plan: what bind() did, not what was predicted.
RegionKind bound_weights_kind(const Loaded& l) {
  MemoryPlan plan;
  l.engine->backend().plan(plan);
  const Region* r = find_region(plan, std::string("vulkan weights ") + l.model->tier_name(0));
  EXPECT_TRUE(r) << plan.to_string();
  return r ? r->kind : RegionKind::kResident;
}

void expect_logits_identical(const char* model) {
  const std::string path = test::model_path(model);
  AIRT_REQUIRE_FILE(path);
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 429, 270, 300};
  Loaded on = load(path, 0);
  Loaded off = load(path, kFeatureHostImport);
  ASSERT_TRUE(on.engine && off.engine);
  EXPECT_NE(on.engine->backend().describe().find("host-import"), std::string::npos) << on.engine->backend().describe();
  EXPECT_EQ(off.engine->backend().describe().find("host-import"), std::string::npos);
  EXPECT_EQ(bound_weights_kind(on), RegionKind::kMapped);
  EXPECT_EQ(bound_weights_kind(off), RegionKind::kDevice);
  std::vector<int32_t> tok_on, tok_off;
  std::vector<float> a = test::engine_logits(*on.engine, prompt, 8, &tok_on);
  std::vector<float> b = test::engine_logits(*off.engine, prompt, 8, &tok_off);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << model << ": imported logits differ";
  EXPECT_EQ(tok_on, tok_off);
}

TEST(VulkanImport, LogitsBitIdenticalToTheCopyF32) {
  REQUIRE_IMPORT();
  expect_logits_identical("stories260K.gguf");
}

TEST(VulkanImport, LogitsBitIdenticalToTheCopyF16Qwen2) {
  REQUIRE_IMPORT();
  expect_logits_identical("synth-qwen2-small-f16.gguf");
}

TEST(VulkanImport, BufferReadsTheHostMemoryInPlaceAndRefusesWrites) {
  REQUIRE_IMPORT();
  auto ctx = hal::vk::Context::create();
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  const uint64_t a = (*ctx)->info().min_import_alignment;
  ASSERT_GT(a, 0u);
  const uint64_t n = 4 * a;
  void* host = std::aligned_alloc(size_t(a), size_t(n));
  ASSERT_TRUE(host);
  for (uint64_t i = 0; i < n; ++i) static_cast<uint8_t*>(host)[i] = uint8_t(i * 7 + 1);
  {
    auto b = hal::vk::Buffer::import_host(**ctx, host, n, "test import");
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_TRUE(b->imported());
    std::vector<uint8_t> back(static_cast<size_t>(a));
    ASSERT_TRUE(b->download(a, back.data(), a).ok());
    EXPECT_EQ(std::memcmp(back.data(), static_cast<uint8_t*>(host) + a, size_t(a)), 0);
    const uint8_t x = 0;
    Status s = b->upload(0, &x, 1);
    EXPECT_FALSE(s.ok());
  }
  // Not whole import units: refused before the driver sees it.
  auto odd = hal::vk::Buffer::import_host(**ctx, static_cast<uint8_t*>(host) + 16, a, "odd import");
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.error().message.find("odd import"), std::string::npos) << odd.error().message;
  std::free(host);
}

TEST(VulkanImport, MaskedContextRefusesToImportNamingWhy) {
  REQUIRE_IMPORT();
  auto ctx = hal::vk::Context::create(hal::vk::kAnyDevice, hal::vk::kFeatureAll & ~kFeatureHostImport);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  EXPECT_FALSE((*ctx)->has(kFeatureHostImport));
  alignas(4096) static uint8_t page[4096];
  auto b = hal::vk::Buffer::import_host(**ctx, page, sizeof page, "masked import");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("cannot import host memory"), std::string::npos) << b.error().message;
}

#else

TEST(VulkanImport, BuiltWithoutVulkan) { GTEST_SKIP() << "no Vulkan device (built without Vulkan)"; }

#endif

}  // namespace
}  // namespace airt
