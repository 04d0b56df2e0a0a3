// The backend as part of the operating point (engine.h, "Backends"): an engine on Vulkan
// with the CPU fallback planned holds both backends in its plan and carves both at start-up;
// two greedy sequences switched vulkan -> cpu -> vulkan mid-generation (the whole pass on
// the device, and a split) produce an all-CPU run's tokens, the switch step allocating
// nothing; a point naming an unplanned backend is refused naming the fix; the governor,
// with a profile where vulkan is the slower, moves to the cpu under a deadline. Device
// tests skip with "no Vulkan device" where there is none (in CI: Mesa's lavapipe).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/core/clock.h"
#include "runtime/engine/governed.h"
#include "tests/integration/vulkan_fallback_fixture.h"

namespace airt {
namespace {

using namespace fallback_test;

TEST(VulkanFallback, PlanHoldsTheCpuFallbackBesideTheDevice) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = model_or_skip();
  AIRT_REQUIRE_FILE(path);
  Loaded l = load(path);
  ASSERT_TRUE(l.model);
  auto alone = engine::Engine::plan(*l.model, config(governor::BackendKind::kVulkan, false));
  auto both = engine::Engine::plan(*l.model, config(governor::BackendKind::kVulkan, true));
  auto cpu = engine::Engine::plan(*l.model,
                                  config(governor::BackendKind::kCpu, true));  // ignored on the cpu
  ASSERT_TRUE(alone.ok() && both.ok() && cpu.ok());
  auto has = [](const MemoryPlan& p, const std::string& name) {
    for (const Region& r : p.regions())
      if (r.name == name) return true;
    return false;
  };
  EXPECT_TRUE(has(*both, "cpu fallback kv pool")) << both->to_string();
  EXPECT_TRUE(has(*both, "backend switch")) << both->to_string();
  EXPECT_FALSE(has(*alone, "cpu fallback kv pool"));
  EXPECT_FALSE(has(*cpu, "cpu fallback kv pool"));
  EXPECT_GT(both->arena_bytes(), alone->arena_bytes());
  EXPECT_EQ(both->mapped_bytes(), alone->mapped_bytes())
      << "the fallback's weights are the mapping";
  std::printf("cpu fallback: %zu arena bytes more (%zu -> %zu)\n",
              both->arena_bytes() - alone->arena_bytes(), alone->arena_bytes(),
              both->arena_bytes());
  auto e = engine::Engine::create(*l.model, *l.tok, config(governor::BackendKind::kVulkan, true));
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_NE((*e)->fallback_backend(), nullptr);
  EXPECT_STREQ((*e)->fallback_backend()->name(), "cpu");
  EXPECT_STREQ((*e)->backend().name(), "vulkan");
  EXPECT_EQ((*e)->arena().used(), both->arena_bytes())
      << "both backends carved at start-up, to the byte";
}

// Moves at fixed steps: to the cpu at step `to_cpu`, back to vulkan at `back`.
struct Mover {
  int64_t steps = 0, to_cpu = 0, back = 0;
  int failures = 0, cpu_steps = 0, vulkan_steps = 0;
  static void hook(void* ctx, engine::Engine& e, const governor::StepRecord& rec) {
    auto* m = static_cast<Mover*>(ctx);
    ++m->steps;
    (rec.point.backend == governor::BackendKind::kCpu ? m->cpu_steps : m->vulkan_steps)++;
    governor::OperatingPoint p = e.point();
    if (m->steps == m->to_cpu)
      p.backend = governor::BackendKind::kCpu;
    else if (m->steps == m->back)
      p.backend = governor::BackendKind::kVulkan;
    else
      return;
    p.threads = 0;
    if (!e.apply(p).ok()) ++m->failures;
  }
};

TEST(VulkanFallback, SwitchingToTheCpuMidGenerationAndBackKeepsGreedyTokens) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = model_or_skip();
  AIRT_REQUIRE_FILE(path);
  Loaded l = load(path);
  ASSERT_TRUE(l.model && l.tok);
  std::vector<std::vector<int32_t>> prompts{prompt_of(0), prompt_of(1)};
  Collect want;
  cpu_reference(l, prompts, want);
  const int32_t n_layer = l.model->hparams().n_layer;
  // The whole pass on the device, and a split (--gpu-layers): its KV crosses in two parts.
  for (int32_t gpu_layers : {-1, n_layer / 2}) {
    SCOPED_TRACE("--gpu-layers " + std::to_string(gpu_layers));
    engine::EngineConfig c = config(governor::BackendKind::kVulkan, true);
    c.gpu_layers = gpu_layers;
    auto e = engine::Engine::create(*l.model, *l.tok, c);
    ASSERT_TRUE(e.ok()) << e.error().message;
    Mover mv;
    mv.to_cpu = 6;  // after the prefill, mid-generation
    mv.back = 14;
    (*e)->set_step_hook(&Mover::hook, &mv);
    LogCapture log;
    Collect got;
    std::vector<int64_t> allocs;
    run(**e, got, prompts, &allocs);
    ASSERT_GT(allocs.size(), size_t(mv.to_cpu));
    EXPECT_EQ(allocs[size_t(mv.to_cpu)], 0) << "the step that moved to the cpu allocated nothing";
    EXPECT_EQ(mv.failures, 0);
    EXPECT_GT(mv.cpu_steps, 4) << "steps ran on the cpu";
    EXPECT_GT(mv.vulkan_steps, 10) << "steps ran on vulkan, before and after";
    EXPECT_EQ(got.errors, 0);
    ASSERT_EQ(got.finished, kSeqs);
    for (int t = 1; t <= kSeqs; ++t) {
      EXPECT_EQ(got.reason[t], engine::FinishReason::kLength) << t;
      EXPECT_EQ(got.tokens[t], want.tokens[t]) << "sequence " << t;
    }
    EXPECT_NE(log.text.find("backend: vulkan -> cpu at a step boundary"), std::string::npos)
        << log.text;
    EXPECT_NE(log.text.find("backend: cpu -> vulkan at a step boundary"), std::string::npos)
        << log.text;
    EXPECT_EQ(log.text.find("rebuilt"), std::string::npos)
        << "the KV was copied, not rebuilt: " << log.text;
    EXPECT_STREQ((*e)->backend().name(), "vulkan");
    std::printf("%s", log.text.c_str());
  }
}

TEST(VulkanFallback, APointNamingAnUnplannedBackendIsRefused) {
  const std::string path = model_or_skip();
  AIRT_REQUIRE_FILE(path);
  Loaded l = load(path);
  ASSERT_TRUE(l.model && l.tok);
  auto cpu = engine::Engine::create(*l.model, *l.tok, config(governor::BackendKind::kCpu, false));
  ASSERT_TRUE(cpu.ok()) << cpu.error().message;
  governor::OperatingPoint p = (*cpu)->point();
  p.backend = governor::BackendKind::kVulkan;
  Status st = (*cpu)->apply(p);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("planned no other backend"), std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("--backend-fallback cpu"), std::string::npos)
      << st.error().message;
  if (!test::have_vulkan_device()) return;
  auto vk = engine::Engine::create(*l.model, *l.tok, config(governor::BackendKind::kVulkan, false));
  ASSERT_TRUE(vk.ok()) << vk.error().message;
  EXPECT_EQ((*vk)->fallback_backend(), nullptr);
  p = (*vk)->point();
  p.backend = governor::BackendKind::kCpu;
  st = (*vk)->apply(p);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("--backend auto"), std::string::npos) << st.error().message;
  EXPECT_EQ((*vk)->point().backend, governor::BackendKind::kVulkan);
}

// The governor's space holds both planned backends; with a profile where vulkan is the
// slower (as lavapipe is) a deadline it cannot meet moves the engine to the cpu, with an
// event naming the backend, and the tokens stay the CPU's.
TEST(VulkanFallback, TheGovernorMovesToTheCpuWhenVulkanIsPredictedTooSlow) {
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
  engine::GovernedSpaceOptions o;
  o.kv = {governor::KvPrecision{}};  // the backend is the only knob: the tokens cannot change
  // One thread named, as the steps record it (the engine records a point's threads 0
  // resolved to a count, which the cost model would not find in the space).
  o.threads = {1};
  auto sc = engine::governed_space(**e, o);
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  ASSERT_EQ(sc->backends.size(), 2u);
  EXPECT_EQ(sc->backends[0], governor::BackendKind::kVulkan) << "the engine's own first";
  auto space = governor::Space::make(*sc);
  ASSERT_TRUE(space.ok()) << space.error().message;
  governor::Profile profile;
  governor::ProfileEntry vk, cpu;
  vk.backend = governor::BackendKind::kVulkan, vk.step_ms = 200, vk.decode_ms_per_row = 6,
  vk.prefill_ms_per_row = 5;
  cpu.backend = governor::BackendKind::kCpu, cpu.step_ms = 30, cpu.decode_ms_per_row = 4,
  cpu.prefill_ms_per_row = 3;
  profile.points = {vk, cpu};
  auto trace = governor::Trace::parse("t_s,temp_c,cpu_mhz\n0,50,2400\n", "cool.csv");
  ASSERT_TRUE(trace.ok()) << trace.error().message;
  std::string moves;
  engine::GovernorLoopConfig gc;
  gc.on_event = [&](const governor::Event& ev) { moves += std::string(ev.reason) + "\n"; };
  auto loop =
      engine::GovernorLoop::create(**e, governor::Sensors::replay(std::move(*trace)),
                                   std::move(*space), governor::QualityTable{}, &profile, gc);
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  EXPECT_EQ((*e)->point().backend, governor::BackendKind::kVulkan)
      << "starts on the engine's own backend";
  Collect got;
  // 24 tokens in 3 s: the profile says vulkan needs ~5 s, the cpu ~1 s (the real run takes
  // a fraction of a second on either).
  const int64_t deadline = now_ns() + int64_t(3000) * 1000000;
  for (int s = 0; s < kSeqs; ++s) {
    engine::Request r;
    r.prompt_tokens = prompts[size_t(s)];
    r.max_tokens = kTokens;
    r.ignore_eos = true;
    r.sampling.temp = 0;
    r.deadline_ns = deadline;
    ASSERT_TRUE((*e)->submit(engine::Ticket(s + 1), r).ok());
  }
  int cpu_steps = 0;
  for (int i = 0; i < 500 && (*e)->step(got); ++i)
    cpu_steps += (*e)->point().backend == governor::BackendKind::kCpu;
  EXPECT_EQ(got.errors, 0);
  ASSERT_EQ(got.finished, kSeqs);
  for (int t = 1; t <= kSeqs; ++t) EXPECT_EQ(got.tokens[t], want.tokens[t]) << "sequence " << t;
  EXPECT_NE(moves.find("backend vulkan -> cpu"), std::string::npos) << moves;
  EXPECT_GT(cpu_steps, 0) << moves;
  // Each backend's figures are learned from its own steps (a step of this model takes a few
  // milliseconds here): the cpu, which ran most of them, now predicts far less than the
  // profile said; vulkan, which ran the first, has moved from its seed.
  const governor::Governor& gov = (*loop)->governor();
  for (size_t i = 0; i < gov.space().size(); ++i) {
    const bool on_cpu = gov.space()[i].backend == governor::BackendKind::kCpu;
    const double seeded = on_cpu ? 38 : 212, now = gov.costs().step_ms(i, 2, 0, 1.0);
    EXPECT_LT(now, on_cpu ? seeded / 2 : seeded) << gov.space().describe(i);
    std::printf("%s: %.1f ms a step of 2 rows predicted (profile: %.0f)\n",
                gov.space().describe(i).c_str(), now, seeded);
  }
  std::printf("%s", moves.c_str());
}

}  // namespace
}  // namespace airt
