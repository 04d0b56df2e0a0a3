// What the backend-switch and device-loss tests share (vulkan_fallback_test.cpp,
// vulkan_device_lost_test.cpp): stories260K loaded, two greedy sequences of a few prompt
// tokens run to the end, their tokens and ends collected, the log lines a run writes, and
// the all-CPU run every other run must equal.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/log.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"
#include "tests/support/vulkan_device.h"

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/context.h"
#include "hal/vulkan/device.h"
#endif

namespace airt::fallback_test {

#if AIRT_HAVE_VULKAN
constexpr uint32_t kNoFp16 = hal::vk::kFeatureFp16;
inline void lose_device_after(int64_t submits) { hal::vk::fault_device_lost_after(submits); }
#else
constexpr uint32_t kNoFp16 = 0;
inline void lose_device_after(int64_t) {}
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

using test::Loaded;
inline Loaded load(const std::string& path) { return test::load_model(path); }

inline engine::EngineConfig config(governor::BackendKind kind, bool fallback) {
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

inline std::vector<int32_t> prompt_of(int s) {
  std::vector<int32_t> p{1};
  for (int i = 0; i < 3 + 6 * s; ++i) p.push_back(int32_t((s * 7877 + i * 104723 + 29) % 500 + 2));
  return p;
}

// Submits both sequences and steps the engine until they end (at most 500 steps: no hang);
// with `allocs`, the heap allocations of each step.
inline void run(engine::Engine& e, Collect& sink, const std::vector<std::vector<int32_t>>& prompts,
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

inline std::string model_or_skip() { return test::model_path("stories260K.gguf"); }

// All-CPU greedy tokens of the two sequences: what every other run must produce.
inline void cpu_reference(const Loaded& l, const std::vector<std::vector<int32_t>>& prompts,
                          Collect& out) {
  auto e = engine::Engine::create(*l.model, *l.tok, config(governor::BackendKind::kCpu, false));
  ASSERT_TRUE(e.ok()) << e.error().message;
  run(**e, out, prompts);
  ASSERT_EQ(out.finished, kSeqs);
}

}  // namespace airt::fallback_test
