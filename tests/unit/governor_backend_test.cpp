// The backend as a knob of the governor's space: points on each planned backend, costs
// per backend from the profile, the policy moving to the faster backend under a tight
// deadline (the quality is the same), and the backend named in events, the config JSON
// and the profile JSON. No device needed: figures come from a profile.
#include <gtest/gtest.h>

#include <string>

#include "governor/config.h"
#include "governor/governor.h"

namespace airt::governor {
namespace {

// One tier on vulkan (the engine's own) and its CPU fallback; vulkan is the slower here,
// as Mesa's lavapipe is against the CPU it runs on.
struct Fixture {
  Space space;
  QualityTable quality;
  Profile profile;
  GovernorConfig config;

  Fixture() {
    SpaceConfig c;
    c.tiers = {0};
    c.tier_names = {"q8_0"};
    c.threads = {1};
    c.max_threads = 1;
    c.backends = {BackendKind::kVulkan, BackendKind::kCpu};
    space = Space::make(c).value();
    quality.set_tier(0, 8.0);
    ProfileEntry vk, cpu;
    vk.backend = BackendKind::kVulkan, vk.step_ms = 80, vk.decode_ms_per_row = 6,
    vk.prefill_ms_per_row = 5;
    cpu.backend = BackendKind::kCpu, cpu.step_ms = 30, cpu.decode_ms_per_row = 4,
    cpu.prefill_ms_per_row = 3;
    profile.points = {vk, cpu};
  }
};

Snapshot snap_at(double t) {
  Snapshot s;
  s.t_s = t;
  s.temp_c = 60;
  s.cpu_mhz = 2400;
  s.cpu_max_mhz = 2400;
  s.mem_avail_mb = 4000;
  return s;
}

TEST(GovernorBackend, TheSpaceHoldsEachPlannedBackend) {
  Fixture f;
  ASSERT_EQ(f.space.size(), 2u);
  EXPECT_EQ(f.space[0].backend, BackendKind::kVulkan) << "the engine's own first";
  EXPECT_EQ(f.space[1].backend, BackendKind::kCpu);
  EXPECT_EQ(f.space.describe(1), "q8_0 backend cpu");
  char buf[96];
  f.space.describe_change(0, 1, buf, sizeof buf);
  EXPECT_STREQ(buf, "backend vulkan -> cpu");
  SpaceConfig none;
  none.backends.clear();
  EXPECT_FALSE(Space::make(none).ok());
  // One backend: the knob is left out of the names, as every single-valued knob.
  EXPECT_EQ(Space::make(SpaceConfig{}).value().describe(0), "tier0");
}

TEST(GovernorBackend, CostsArePerBackendFromTheProfile) {
  Fixture f;
  CostModel costs(f.space, &f.profile);
  EXPECT_DOUBLE_EQ(costs.step_ms(0, 1, 0, 1.0), 86.0);
  EXPECT_DOUBLE_EQ(costs.step_ms(1, 1, 0, 1.0), 34.0);
}

TEST(GovernorBackend, ATightDeadlineMovesFromVulkanToTheFasterCpu) {
  Fixture f;
  Governor g(f.space, f.quality, &f.profile, f.config);
  ASSERT_EQ(g.point().backend, BackendKind::kVulkan) << "starts on the engine's own backend";
  // 20 tokens in 1 s: vulkan needs 20 x 86 = 1720 ms, the cpu 20 x 34 = 680 ms.
  RequestState r;
  r.tokens_left = 20;
  r.ms_left_to_deadline = 1000;
  const Decision& d = g.decide(snap_at(1), {&r, 1});
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.pressure, Pressure::kDeadline);
  EXPECT_EQ(g.point().backend, BackendKind::kCpu);
  const std::string why = d.reason;
  EXPECT_NE(why.find("backend vulkan -> cpu"), std::string::npos) << why;
  ASSERT_EQ(g.events().size(), 1u);
  EXPECT_NE(std::string(g.events().at(0).reason).find("backend vulkan -> cpu"), std::string::npos);
  const std::string json = g.events().to_json(f.space);
  EXPECT_NE(json.find("backend cpu"), std::string::npos) << json;
}

TEST(GovernorBackend, ConfigAndProfileNameTheBackend) {
  auto setup =
      parse_governor_config(R"({"tiers": ["q8_0"], "backends": ["vulkan", "cpu"]})", "gov.json");
  ASSERT_TRUE(setup.ok()) << setup.error().message;
  ASSERT_EQ(setup->space.backends.size(), 2u);
  EXPECT_EQ(setup->space.backends[0], BackendKind::kVulkan);
  auto bad = parse_governor_config(R"({"backends": ["cuda"]})", "gov.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("backends[0]"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("use cpu or vulkan"), std::string::npos)
      << bad.error().message;
  Fixture f;
  const std::string text = profile_to_json(f.profile);
  EXPECT_NE(text.find("\"backend\":\t\"vulkan\""), std::string::npos) << text;
  auto back = parse_profile(text, "p.json");
  ASSERT_TRUE(back.ok()) << back.error().message;
  OperatingPoint p;
  p.backend = BackendKind::kVulkan;
  ASSERT_NE(back->find(p), nullptr);
  EXPECT_DOUBLE_EQ(back->find(p)->step_ms, 80);
  p.backend = BackendKind::kCpu;
  EXPECT_DOUBLE_EQ(back->find(p)->step_ms, 30);
  auto wrong = parse_profile(R"({"format": "airt-latency-profile", "version": 1,
      "points": [{"backend": "gpu", "step_ms": 1, "decode_ms_per_row": 1, "prefill_ms_per_row": 1}]})",
                             "p.json");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("points[0].backend"), std::string::npos)
      << wrong.error().message;
}

}  // namespace
}  // namespace airt::governor
