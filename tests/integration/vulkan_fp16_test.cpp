// The fp16-arithmetic shader builds through the Vulkan backend, both ways: with
// kFeatureFp16 on (where the device has shaderFloat16) an f16 model's logits stay within
// the reference bound of vulkan_backend_test.cpp and differ from the f32 path's, which
// shows the _f16 builds ran; masked, the f32 path matches the reference as closely as
// before. The op-level bounds are vulkan_conformance_test.cpp's. Skips without a device.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/device.h"
#endif

namespace airt {
namespace {

#if AIRT_HAVE_VULKAN

using hal::vk::kFeatureFp16;

bool device_has_fp16() {
  auto d = hal::vk::enumerate_devices();
  if (!d.ok() || d->empty()) return false;
  const int i = hal::vk::best_device(*d);
  return i >= 0 && ((*d)[size_t(i)].features() & kFeatureFp16);
}

using test::Loaded;

Loaded load(const std::string& path, int32_t n, uint32_t masked) {
  Loaded l = test::load_model(path);
  if (!l.tok) return l;
  engine::EngineConfig c = test::scoring_config(n + 64, n);
  c.backend = governor::BackendKind::kVulkan;
  c.vk_masked = masked;
  test::make_engine(l, c);
  return l;
}

TEST(VulkanFp16, F16ModelWithinTheReferenceBoundBothWays) {
  {
    auto d = hal::vk::enumerate_devices();
    if (!d.ok() || d->empty()) GTEST_SKIP() << "no Vulkan device";
  }
  if (!device_has_fp16()) GTEST_SKIP() << "the Vulkan device has no shaderFloat16";
  const std::string path = test::model_path("synth-qwen2-small-f16.gguf");
  AIRT_REQUIRE_FILE(path);
  const std::string ref = test::reference_dir();
  AIRT_REQUIRE_FILE(ref);
  auto lines = test::read_token_lines(ref + "/synth-qwen2-small.tokens");
  ASSERT_FALSE(lines.empty());
  std::vector<int32_t> tokens = lines[0];
  if (tokens.size() > 6) tokens.resize(6);  // lavapipe is slow; the rows are causal
  std::vector<float> want = test::read_f32(ref + "/logits/synth-qwen2-small-f16.0.logits.f32");
  Loaded on = load(path, int32_t(tokens.size()), 0);
  Loaded off = load(path, int32_t(tokens.size()), kFeatureFp16);
  ASSERT_TRUE(on.engine && off.engine);
  EXPECT_NE(on.engine->backend().describe().find("fp16"), std::string::npos) << on.engine->backend().describe();
  EXPECT_EQ(off.engine->backend().describe().find("fp16"), std::string::npos) << off.engine->backend().describe();
  const size_t nv = size_t(on.model->hparams().n_vocab);
  ASSERT_GE(want.size(), tokens.size() * nv);
  want.resize(tokens.size() * nv);
  const std::vector<float> a = test::engine_logits(*on.engine, tokens);
  const std::vector<float> b = test::engine_logits(*off.engine, tokens);
  ASSERT_EQ(a.size(), want.size());
  ASSERT_EQ(b.size(), want.size());
  const double err_on = test::nmse(a.data(), want.data(), want.size());
  const double err_off = test::nmse(b.data(), want.data(), want.size());
  std::printf("synth-qwen2-small-f16 on vulkan: NMSE fp16 %.3g, f32 path %.3g (bound 1e-4)\n", err_on, err_off);
  EXPECT_LE(err_on, 1e-4);
  EXPECT_LE(err_off, 1e-4);
  EXPECT_GT(test::nmse(a.data(), b.data(), a.size()), 0.0) << "fp16 on and off gave the same logits: no _f16 build ran";
}

#else

TEST(VulkanFp16, BuiltWithoutVulkan) { GTEST_SKIP() << "no Vulkan device (built without Vulkan)"; }

#endif

}  // namespace
}  // namespace airt
