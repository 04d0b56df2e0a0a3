// The backend as part of the operating point, and a device lost mid-run (engine.h,
// "Backends"): an engine on Vulkan with the CPU fallback planned holds both backends in its
// plan; two greedy sequences switched vulkan -> cpu -> vulkan mid-generation, and two whose
// device is lost at a submission in the middle (hal/vulkan's fault hook), produce an
// all-CPU run's tokens and complete; without the fallback a lost device ends the requests
// with an error naming the fix, and a point naming an unplanned backend is refused.
// Device tests skip with "no Vulkan device" where there is none (in CI: Mesa's lavapipe).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/core/clock.h"
#include "runtime/core/log.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/governed.h"
#include "runtime/model/model.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"
#include "tests/support/vulkan_device.h"

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/context.h"
#include "hal/vulkan/device.h"
#endif

namespace airt {
namespace {

#if AIRT_HAVE_VULKAN
constexpr uint32_t kNoFp16 = hal::vk::kFeatureFp16;
void lose_device_after(int64_t submits) { hal::vk::fault_device_lost_after(submits); }
#else
constexpr uint32_t kNoFp16 = 0;
void lose_device_after(int64_t) {}
#endif

constexpr int kSeqs = 2;
constexpr int kTokens = 24;

struct Collect : engine::Sink {
  std::vector<int32_t> tokens[kSeqs + 1];
  engine::FinishReason reason[kSeqs + 1]{};
  ErrorInfo error[kSeqs + 1];
  int finished = 0, errors = 0;
  Collect() {
    for (auto& t : tokens) t.reserve(256);
  }
  void on_token(engine::Ticket t, int32_t id, std::string_view) override {
    tokens[t].push_back(id);
  }
  void on_finish(engine::Ticket t, const engine::Finish& f) override {
    reason[t] = f.reason;
    ++finished;
  }
  void on_error(engine::Ticket t, const ErrorInfo& e) override {
    error[t] = e;
    ++errors;
  }
};

// The log lines a run writes, for the messages a user sees.
struct LogCapture {
  std::string text;
  LogCapture() {
    text.reserve(1 << 14);  // appending allocates nothing: the steps' allocations are counted
    log_set_sink(&LogCapture::sink, this);
  }
  ~LogCapture() { log_set_sink(nullptr, nullptr); }
  static void sink(LogLevel, const char* m, void* ctx) {
    static_cast<LogCapture*>(ctx)->text.append(m).push_back('\n');
  }
};

struct Loaded {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<text::Tokenizer> tok;
};

Loaded load(const std::string& path) {
  Loaded l;
  auto m = model::Model::load(path);
  EXPECT_TRUE(m.ok()) << m.error().message;
  if (!m.ok()) return l;
  l.model = std::move(*m);
  auto tok = text::Tokenizer::from_gguf(l.model->file());
  EXPECT_TRUE(tok.ok()) << tok.error().message;
  if (tok.ok()) l.tok = std::move(*tok);
  return l;
}

engine::EngineConfig config(governor::BackendKind kind, bool fallback) {
  engine::EngineConfig c;
  c.n_slots = kSeqs;
  c.n_ctx = 96;
  c.prefill_chunk = 8;
  c.kernels = hal::kernels_best().value();
  c.n_threads = 1;
  c.backend = kind;
  c.cpu_fallback = fallback;
  // The f32 shader paths: greedy tokens equal to the CPU's (as vulkan_layers_test).
  c.vk_masked = kNoFp16;
  return c;
}

std::vector<int32_t> prompt_of(int s) {
  std::vector<int32_t> p{1};
  for (int i = 0; i < 3 + 6 * s; ++i) p.push_back(int32_t((s * 7877 + i * 104723 + 29) % 500 + 2));
  return p;
}

// Submits both sequences and steps the engine until they end (at most 500 steps: no hang);
// with `allocs`, the heap allocations of each step.
void run(engine::Engine& e, Collect& sink, const std::vector<std::vector<int32_t>>& prompts,
         std::vector<int64_t>* allocs = nullptr) {
  for (int s = 0; s < kSeqs; ++s) {
    engine::Request r;
    r.prompt_tokens = prompts[size_t(s)];
    r.max_tokens = kTokens;
    r.ignore_eos = true;
    r.sampling.temp = 0;
    ASSERT_TRUE(e.submit(engine::Ticket(s + 1), r).ok());
  }
  if (allocs) allocs->reserve(500);
  for (int i = 0; i < 500; ++i) {
    test::AllocScope scope;
    const bool more = e.step(sink);
    if (allocs) allocs->push_back(scope.count());
    if (!more) break;
  }
  EXPECT_FALSE(e.busy()) << "the run ended";
}

std::string model_or_skip() { return test::model_path("stories260K.gguf"); }

// All-CPU greedy tokens of the two sequences: what every other run must produce.
void cpu_reference(const Loaded& l, const std::vector<std::vector<int32_t>>& prompts,
                   Collect& out) {
  auto e = engine::Engine::create(*l.model, *l.tok, config(governor::BackendKind::kCpu, false));
  ASSERT_TRUE(e.ok()) << e.error().message;
  run(**e, out, prompts);
  ASSERT_EQ(out.finished, kSeqs);
}

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
    std::printf("%s: %.1f ms a step of 2 rows predicted (profile: %.0f)\n", gov.space().describe(i).c_str(), now,
                seeded);
  }
  std::printf("%s", moves.c_str());
}

TEST(VulkanFallback, DeviceLostMidRunContinuesOnTheCpuWithTheSameTokens) {
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

TEST(VulkanFallback, DeviceLostWithVulkanForcedEndsTheRequestsWithAnError) {
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
TEST(VulkanFallback, CliRunFallsBackToTheCpuWhenTheDeviceIsLost) {
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
