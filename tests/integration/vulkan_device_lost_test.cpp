// A Vulkan device lost mid-run (hal/vulkan's fault hook: the context's submission after N
// more fails with VK_ERROR_DEVICE_LOST, as a real loss does, and the device stays lost).
// With the CPU fallback planned, two greedy sequences continue on the CPU, their KV rebuilt
// from their tokens, and produce the all-CPU run's tokens; with vulkan forced, both end with
// an error naming the device and the fix, and nothing hangs; through the CLI,
// AIRT_VULKAN_FAULT does the same end to end. Skips with "no Vulkan device" where there is
// none (in CI: Mesa's lavapipe).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/integration/vulkan_fallback_fixture.h"

namespace airt {
namespace {

using namespace fallback_test;

TEST(VulkanDeviceLost, MidRunContinuesOnTheCpuWithTheSameTokens) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = model_or_skip();
  AIRT_REQUIRE_FILE(path);
  Loaded l = load(path);
  ASSERT_TRUE(l.model && l.tok);
  std::vector<std::vector<int32_t>> prompts{prompt_of(0), prompt_of(1)};
  Collect want;
  cpu_reference(l, prompts, want);
  auto e = engine::Engine::create(*l.model, *l.tok, config(governor::BackendKind::kVulkan, true));
  ASSERT_TRUE(e.ok()) << e.error().message;
  LogCapture log;
  lose_device_after(8);  // the 9th submission: both sequences are decoding by then
  Collect got;
  run(**e, got, prompts);
  lose_device_after(-1);
  EXPECT_TRUE((*e)->device_lost());
  EXPECT_STREQ((*e)->backend().name(), "cpu");
  EXPECT_EQ(got.errors, 0) << got.error[1].message << got.error[2].message;
  ASSERT_EQ(got.finished, kSeqs);
  for (int t = 1; t <= kSeqs; ++t) {
    EXPECT_EQ(got.reason[t], engine::FinishReason::kLength) << t;
    EXPECT_EQ(got.tokens[t], want.tokens[t]) << "sequence " << t;
  }
  EXPECT_NE(log.text.find("vulkan: device lost ("), std::string::npos) << log.text;
  EXPECT_NE(log.text.find("); continuing on the CPU"), std::string::npos) << log.text;
  EXPECT_NE(log.text.find("cpu: the KV of 2 sequences"), std::string::npos) << log.text;
  // Vulkan is gone for good: a point naming it is refused, the cpu stays.
  governor::OperatingPoint p = (*e)->point();
  EXPECT_EQ(p.backend, governor::BackendKind::kCpu);
  p.backend = governor::BackendKind::kVulkan;
  Status st = (*e)->apply(p);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("its device was lost"), std::string::npos)
      << st.error().message;
  std::printf("%s", log.text.c_str());
}

TEST(VulkanDeviceLost, WithVulkanForcedEndsTheRequestsWithAnError) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = model_or_skip();
  AIRT_REQUIRE_FILE(path);
  Loaded l = load(path);
  ASSERT_TRUE(l.model && l.tok);
  auto e = engine::Engine::create(*l.model, *l.tok, config(governor::BackendKind::kVulkan, false));
  ASSERT_TRUE(e.ok()) << e.error().message;
  lose_device_after(8);
  Collect got;
  run(**e, got, {prompt_of(0), prompt_of(1)});
  lose_device_after(-1);
  EXPECT_EQ(got.finished, 0);
  ASSERT_EQ(got.errors, kSeqs);
  for (int t = 1; t <= kSeqs; ++t) {
    EXPECT_EQ(got.error[t].code, Error::kBackendDeviceLost) << got.error[t].message;
    EXPECT_NE(got.error[t].message.find("device was lost"), std::string::npos)
        << got.error[t].message;
    EXPECT_NE(got.error[t].message.find("--backend auto or --backend-fallback cpu"),
              std::string::npos)
        << got.error[t].message;
  }
  EXPECT_FALSE((*e)->device_lost()) << "no fallback: the engine stays on vulkan";
}

// End to end through the CLI: AIRT_VULKAN_FAULT loses the device mid-run; the text is the
// CPU's and stderr says what happened.
TEST(VulkanDeviceLost, CliRunFallsBackToTheCpuWhenTheDeviceIsLost) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = model_or_skip();
  AIRT_REQUIRE_FILE(path);
  const std::vector<std::string> common{"run", "-m", path,     "-p", "Once upon a time",
                                        "-n",  "16", "--temp", "0"};
  auto cpu = test::run_airt(common);
  ASSERT_EQ(cpu.status, 0) << cpu.err;
  std::vector<std::string> args = common;
  for (const char* a : {"--backend", "vulkan", "--backend-fallback", "cpu"}) args.push_back(a);
  setenv("AIRT_VULKAN_FAULT", "device-lost@6", 1);
  auto lost = test::run_airt(args);
  std::vector<std::string> forced = common;
  for (const char* a : {"--backend", "vulkan"}) forced.push_back(a);
  auto failed = test::run_airt(forced);
  unsetenv("AIRT_VULKAN_FAULT");
  EXPECT_EQ(lost.status, 0) << lost.err;
  EXPECT_EQ(lost.out, cpu.out);
  EXPECT_NE(lost.err.find("vulkan: device lost ("), std::string::npos) << lost.err;
  EXPECT_NE(lost.err.find("continuing on the CPU"), std::string::npos) << lost.err;
  EXPECT_NE(failed.status, 0);
  EXPECT_NE(failed.err.find("--backend auto or --backend-fallback cpu"), std::string::npos)
      << failed.err;
}

}  // namespace
}  // namespace airt
