// The Vulkan backend (runtime/model/vulkan_backend.h) on whatever Vulkan device there is —
// in CI Mesa's lavapipe, forced with --backend vulkan since auto never picks a CPU-type
// device: the reference logits within the CPU's bounds for one model of each weight type,
// greedy tokens equal to the CPU's, the portable shader variants (every optional feature
// masked), the CLI's options and messages. Skips with "no Vulkan device" where there is
// none (or airt was built without Vulkan).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/core/arena.h"
#include "runtime/engine/engine.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/model/vulkan_backend.h"
#include "runtime/model/vulkan_backend_auto.h"
#include "runtime/service/config.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"
#include "tests/support/vulkan_device.h"

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/device.h"
#endif

namespace airt {
namespace {

struct Case {
  const char* model;
  const char* ref;
  const char* tokens;
  double bound;
  size_t max_seqs;    // reference sequences checked (lavapipe is slow; the first ones suffice)
  size_t max_tokens;  // of each, the first tokens: the reference's rows are causal, so a
                      // prefix's logits are the first rows of the whole sequence's
};

// One model per weight type: f32 (stories260K), f16 with qwen2's biases, q8_0, q4_0, and
// q4_K/q6_K/q5_0 (q4_k_m). Bounds as logits_test.cpp.
const Case kCases[] = {
    {"stories260K.gguf", "stories260K", "stories260K.tokens", 1e-6, 3, 64},
    {"synth-qwen2-small-f16.gguf", "synth-qwen2-small-f16", "synth-qwen2-small.tokens", 1e-4, 1, 6},
    {"synth-llama-mid-q8_0.gguf", "synth-llama-mid-q8_0", "synth-llama-mid.tokens", 2e-3, 1, 8},
    {"synth-llama-mid-q4_0.gguf", "synth-llama-mid-q4_0", "synth-llama-mid.tokens", 2e-3, 1, 8},
    {"synth-llama-mid-q4_k_m.gguf", "synth-llama-mid-q4_k_m", "synth-llama-mid.tokens", 2e-3, 1, 8},
};

using test::Loaded;

// A scoring engine on `backend` (masking `masked` features) for prompts up to n tokens.
Loaded load(const std::string& path, int32_t n, governor::BackendKind backend, uint32_t masked = 0) {
  Loaded l = test::load_model(path);
  if (!l.tok) return l;
  engine::EngineConfig c = test::scoring_config(n + 64, n);
  c.backend = backend;
  c.vk_masked = masked;
  test::make_engine(l, c);
  return l;
}

class VulkanLogitsTest : public ::testing::TestWithParam<Case> {};

TEST_P(VulkanLogitsTest, MatchesReference) {
  AIRT_REQUIRE_VULKAN();
  const Case& c = GetParam();
  const std::string path = test::model_path(c.model);
  AIRT_REQUIRE_FILE(path);
  const std::string ref = test::reference_dir();
  AIRT_REQUIRE_FILE(ref);
  auto lines = test::read_token_lines(ref + "/" + c.tokens);
  ASSERT_FALSE(lines.empty());
  size_t longest = 0;
  for (auto& l : lines) {
    if (l.size() > c.max_tokens) l.resize(c.max_tokens);
    longest = std::max(longest, l.size());
  }
  Loaded l = load(path, int32_t(longest), governor::BackendKind::kVulkan);
  ASSERT_TRUE(l.engine);
  EXPECT_STREQ(l.engine->backend().name(), "vulkan");
  const size_t nv = size_t(l.model->hparams().n_vocab);
  for (size_t i = 0; i < lines.size() && i < c.max_seqs; ++i) {
    const std::string base = ref + "/logits/" + c.ref + "." + std::to_string(i);
    std::vector<float> want = test::read_f32(base + ".logits.f32");
    if (want.empty()) continue;
    ASSERT_GE(want.size(), lines[i].size() * nv) << base;
    want.resize(lines[i].size() * nv);
    std::vector<float> got = test::engine_logits(*l.engine, lines[i]);
    const double err = test::nmse(got.data(), want.data(), want.size());
    EXPECT_LE(err, c.bound) << c.model << " sequence " << i;
    std::printf("%s seq %zu on vulkan (%zu tokens): NMSE %.3g (bound %.0e)\n", c.model, i, lines[i].size(), err,
                c.bound);
  }
}

INSTANTIATE_TEST_SUITE_P(Reference, VulkanLogitsTest, ::testing::ValuesIn(kCases), [](const auto& info) {
  std::string n = info.param.ref;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
});

// Greedy generation through the engine: the same tokens as the CPU backend's.
void expect_greedy_as_cpu(const char* model, uint32_t masked) {
  const std::string path = test::model_path(model);
  AIRT_REQUIRE_FILE(path);
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 429, 270};
  Loaded cpu = load(path, 16, governor::BackendKind::kCpu);
  Loaded gpu = load(path, 16, governor::BackendKind::kVulkan, masked);
  ASSERT_TRUE(cpu.engine && gpu.engine);
  std::vector<int32_t> want, got;
  std::vector<float> lc = test::engine_logits(*cpu.engine, prompt, 32, &want);
  std::vector<float> lg = test::engine_logits(*gpu.engine, prompt, 32, &got);
  ASSERT_EQ(lc.size(), lg.size());
  EXPECT_LE(test::nmse(lg.data(), lc.data(), lc.size()), 1e-6);
  EXPECT_EQ(got, want);
}

TEST(VulkanBackend, GreedyTokensEqualTheCpus) {
  AIRT_REQUIRE_VULKAN();
  expect_greedy_as_cpu("stories260K.gguf", 0);
}

TEST(VulkanBackend, PortableVariantsWithEveryFeatureMasked) {
  AIRT_REQUIRE_VULKAN();
  expect_greedy_as_cpu("stories260K.gguf", ~0u);
}

// A KV cache and a backend of `kind` over it, fed by hand: rows of several sequences in
// one batch, a sliding window with sinks, quantized KV blocks.
struct Rig {
  Arena arena;
  model::KvCache kv;
  std::unique_ptr<model::Backend> backend;
  Status init(const model::Model& m, governor::BackendKind kind, const model::KvParams& kp, int32_t rows) {
    model::BackendParams bp;
    bp.kind = kind;
    bp.n_rows = rows;
    bp.n_logits = rows;
    bp.max_visible = model::KvCache::blocks_per_seq(kp) * kp.block;
    bp.kv = kp;
    MemoryPlan plan;
    AIRT_TRY(model::backend_plan(m, bp, plan));
    arena = AIRT_TRY(Arena::reserve(plan.arena_bytes() + model::KvCache::arena_bytes(m.hparams(), kp)));
    backend = AIRT_TRY(model::backend_create(m, bp));
    AIRT_TRY(backend->bind(m));
    AIRT_TRY(backend->carve(arena));
    AIRT_TRY(kv.carve(arena, m.hparams(), kp));
    for (int32_t s = 0; s < kp.n_seq; ++s) kv.set_window(s, kp.window, kp.sinks);
    return backend->set_tier(0);
  }
  // Appends the rows (grouped by sequence, in order) and evaluates them, keeping all.
  Result<std::vector<float>> eval(const std::vector<int32_t>& tok, const std::vector<int32_t>& seq) {
    std::vector<int32_t> pos(tok.size()), keep(tok.size());
    for (size_t i = 0; i < tok.size();) {
      size_t j = i;
      while (j < tok.size() && seq[j] == seq[i]) ++j;
      const int32_t p0 = AIRT_TRY(kv.seq_append(seq[i], int32_t(j - i)));
      for (size_t r = i; r < j; ++r) pos[r] = p0 + int32_t(r - i);
      i = j;
    }
    for (size_t i = 0; i < keep.size(); ++i) keep[i] = int32_t(i);
    AIRT_TRY(backend->eval(model::Batch{tok, pos, seq, keep}, kv));
    std::vector<float> out;
    for (size_t i = 0; i < keep.size(); ++i) {
      auto l = backend->logits(int32_t(i));
      out.insert(out.end(), l.begin(), l.end());
    }
    return out;
  }
};

// Two sequences prefilled in one batch, then decoded together past a window of 8 with 2
// sinks (blocks of 4, so blocks are evicted), K at q8_0 and V at q4_0: the same logits as
// the CPU backend's, step by step.
TEST(VulkanBackend, SequencesWindowAndQuantizedKvAsTheCpu) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  model::KvParams kp;
  kp.n_seq = 2;
  kp.n_ctx = 64;
  kp.block = 4;
  kp.window = 8;
  kp.sinks = 2;
  kp.n_step = 12;
  kp.types = {hal::DType::kQ8_0, hal::DType::kQ4_0};
  Rig cpu, gpu;
  ASSERT_TRUE(cpu.init(**m, governor::BackendKind::kCpu, kp, 12).ok());
  auto st = gpu.init(**m, governor::BackendKind::kVulkan, kp, 12);
  ASSERT_TRUE(st.ok()) << st.error().message;
  std::vector<int32_t> tok = {1, 403, 407, 261, 378, 429, 1, 300, 301, 302, 303, 304};
  std::vector<int32_t> seq = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  for (int step = 0; step < 10; ++step) {
    auto want = cpu.eval(tok, seq);
    auto got = gpu.eval(tok, seq);
    ASSERT_TRUE(want.ok() && got.ok()) << (got.ok() ? want.error().message : got.error().message);
    ASSERT_EQ(want->size(), got->size());
    EXPECT_LE(test::nmse(got->data(), want->data(), want->size()), 1e-5) << "step " << step;
    tok = {int32_t(10 + step), int32_t(40 + step)};
    seq = {0, 1};
  }
}

TEST(VulkanBackend, KvStoreRoundTrips) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  model::BackendParams p;
  p.kind = governor::BackendKind::kVulkan;
  p.n_rows = 4;
  p.kv.n_ctx = 64;
  auto b = model::backend_create(**m, p);
  ASSERT_TRUE(b.ok()) << b.error().message;
  Arena arena;
  ASSERT_TRUE((*b)->bind(**m).ok());
  ASSERT_TRUE((*b)->carve(arena).ok());
  std::vector<uint8_t> in(256), out(256);
  for (size_t i = 0; i < in.size(); ++i) in[i] = uint8_t(i * 37 + 11);
  ASSERT_TRUE((*b)->kv_write(64, in.data(), in.size()).ok());
  ASSERT_TRUE((*b)->kv_read(64, out.data(), out.size()).ok());
  EXPECT_EQ(in, out);
  EXPECT_FALSE((*b)->kv_read(size_t(1) << 40, out.data(), 1).ok());
}

TEST(VulkanCli, ForcedVulkanRunsAndAutoSkipsCpuDevices) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = test::run_airt({"run", "-m", path, "-p", "Once upon a time", "-n", "8", "--temp", "0", "--backend",
                           "vulkan"});
  EXPECT_EQ(r.status, 0) << r.err;
  auto c = test::run_airt({"run", "-m", path, "-p", "Once upon a time", "-n", "8", "--temp", "0"});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(r.out, c.out);  // greedy on either backend: the same text
  auto a = test::run_airt({"run", "-m", path, "-p", "Once", "-n", "2", "--backend", "auto"});
  EXPECT_EQ(a.status, 0) << a.err;
#if AIRT_HAVE_VULKAN
  auto devs = hal::vk::enumerate_devices();
  ASSERT_TRUE(devs.ok());
  for (const auto& d : *devs) {
    if (d.type == hal::vk::DeviceType::kCpu) {
      EXPECT_NE(a.err.find("is a CPU device, not used"), std::string::npos) << a.err;
    }
  }
#endif
}

TEST(VulkanCli, BadBackendNameIsAUsageError) {
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--backend", "cuda"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("use auto, cpu or vulkan"), std::string::npos) << r.err;
}

// With no driver the loader finds no device: forced vulkan says so, auto uses the CPU.
TEST(VulkanCli, NoDeviceMessage) {
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  const char* old = std::getenv("VK_ICD_FILENAMES");
  const std::string saved = old ? old : "";
  setenv("VK_ICD_FILENAMES", "/nonexistent/airt-no-icd.json", 1);
  auto r = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--backend", "vulkan"});
  auto a = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--backend", "auto"});
  if (old) setenv("VK_ICD_FILENAMES", saved.c_str(), 1);
  else unsetenv("VK_ICD_FILENAMES");
  EXPECT_NE(r.status, 0);
#if AIRT_HAVE_VULKAN
  EXPECT_NE(r.err.find("no Vulkan device"), std::string::npos) << r.err;
#else
  EXPECT_NE(r.err.find("built without Vulkan"), std::string::npos) << r.err;
#endif
  EXPECT_EQ(a.status, 0) << a.err;
}

// What auto measures runs on either backend (auto itself skips lavapipe, a CPU device).
TEST(VulkanBackend, MeasuresDecodeAndPrefill) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  for (auto kind : {governor::BackendKind::kCpu, governor::BackendKind::kVulkan}) {
    model::BackendParams p;
    p.kind = kind;
    auto s = model::backend_measure(**m, p, 8);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_GT(s->decode_tps, 0);
    EXPECT_GT(s->prefill_tps, 0);
  }
}

// What auto measures on a device that cannot hold the plan (here: more rows than one
// binding reaches) fails with a message naming the device's limit, not a crash, and the
// CPU's measurement of the same plan still stands: auto notes the device "not used" and
// keeps the CPU (backend_choose), as it does for a device lost or out of memory.
TEST(VulkanBackend, MeasurementOverTheLargestBindingFailsAndTheCpuStands) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
#if AIRT_HAVE_VULKAN
  auto devs = hal::vk::enumerate_devices();
  ASSERT_TRUE(devs.ok() && !devs->empty());
  const uint64_t range = (*devs)[0].max_storage_range;
  ASSERT_GT(range, 0u);
  // One row's gate activations are n_ff floats: this many rows exceed one binding.
  const int32_t rows = int32_t(std::min<uint64_t>(range / (4 * uint64_t((*m)->hparams().n_ff)) + 1, 1 << 22));
  model::BackendParams p;
  p.kind = governor::BackendKind::kVulkan;
  p.gpu = 0;
  auto vs = model::backend_measure(**m, p, rows);
  ASSERT_FALSE(vs.ok());
  EXPECT_NE(vs.error().message.find("largest storage buffer"), std::string::npos) << vs.error().message;
  p.kind = governor::BackendKind::kCpu;
  auto cs = model::backend_measure(**m, p, 8);
  ASSERT_TRUE(cs.ok()) << cs.error().message;
  EXPECT_GT(cs->decode_tps, 0);
#endif
}

TEST(VulkanConfig, ModelBackendAndGpuKeys) {
  auto c = service::config_parse(R"({"model": {"backend": "vulkan", "gpu": 1}})", "airt.json");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->model.backend, "vulkan");
  EXPECT_EQ(c->model.gpu, 1);
  auto d = service::config_parse("{}", "airt.json");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->model.backend, "cpu");
  auto bad = service::config_parse(R"({"model": {"backend": "cuda"}})", "airt.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("model.backend"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace airt
