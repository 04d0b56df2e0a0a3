// Partial offload, --gpu-layers N (runtime/model/split_backend.h), on whatever Vulkan device
// there is (in CI Mesa's lavapipe): the reference logits within the Vulkan backend's bounds
// and greedy tokens equal to the CPU's for N = 0, 1, n_layer / 2 and n_layer; two sequences
// decoded after their prefill, step by step as the CPU; the KV of each layer reachable at
// the cache's offsets; both parts' regions in the plan; the flag's and the config key's
// refusals. Device tests skip with "no Vulkan device" where there is none.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/core/arena.h"
#include "runtime/engine/engine.h"
#include "runtime/model/backend.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/service/config.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"
#include "tests/support/vulkan_device.h"

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/device.h"
#endif

namespace airt {
namespace {

#if AIRT_HAVE_VULKAN
constexpr uint32_t kNoFp16 = hal::vk::kFeatureFp16;
constexpr uint32_t kNoHostImport = hal::vk::kFeatureHostImport;
#else
constexpr uint32_t kNoFp16 = 0, kNoHostImport = 0;
#endif

using test::Loaded;

// A scoring engine for prompts of up to n tokens: the CPU (gpu_layers < -1) or vulkan
// with `gpu_layers` on the device.
Loaded load(const std::string& path, int32_t n, int32_t gpu_layers) {
  Loaded l = test::load_model(path);
  if (!l.tok) return l;
  engine::EngineConfig c = test::scoring_config(n + 64, n);
  c.backend = gpu_layers < -1 ? governor::BackendKind::kCpu : governor::BackendKind::kVulkan;
  c.gpu_layers = gpu_layers;
  // The f32 shader paths: f16 arithmetic has its own bound (vulkan_fp16_test), over the
  // CPU's that this split is held to.
  c.vk_masked = kNoFp16;
  test::make_engine(l, c);
  return l;
}

constexpr int32_t kCpu = -2;

// N = 0, 1, n_layer / 2, n_layer of a 4-layer q8_0 model: the reference's logits within
// the Vulkan backend's bound (vulkan_backend_test.cpp), the CPU's within a tighter one,
// and the same greedy tokens.
TEST(VulkanLayers, LogitsAndGreedyTokensForEverySplit) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("synth-llama-mid-q8_0.gguf");
  AIRT_REQUIRE_FILE(path);
  const std::string ref = test::reference_dir();
  AIRT_REQUIRE_FILE(ref);
  auto lines = test::read_token_lines(ref + "/synth-llama-mid.tokens");
  ASSERT_FALSE(lines.empty());
  std::vector<int32_t> ids = lines[0];
  if (ids.size() > 8) ids.resize(8);
  std::vector<float> want = test::read_f32(ref + "/logits/synth-llama-mid-q8_0.0.logits.f32");
  Loaded cpu = load(path, 8, kCpu);
  ASSERT_TRUE(cpu.engine);
  const int32_t n_layer = cpu.model->hparams().n_layer;
  ASSERT_EQ(n_layer, 4);
  const size_t nv = size_t(cpu.model->hparams().n_vocab);
  ASSERT_GE(want.size(), ids.size() * nv);
  want.resize(ids.size() * nv);
  std::vector<int32_t> cpu_tokens;
  const std::vector<float> lc = test::engine_logits(*cpu.engine, ids, 6, &cpu_tokens);
  for (int32_t n : {0, 1, n_layer / 2, n_layer}) {
    Loaded gpu = load(path, 8, n);
    ASSERT_TRUE(gpu.engine) << "--gpu-layers " << n;
    const std::string d = gpu.engine->backend().describe();
    if (n == 0) EXPECT_STREQ(gpu.engine->backend().name(), "cpu");
    else EXPECT_STREQ(gpu.engine->backend().name(), "vulkan");
    if (n > 0 && n < n_layer) {
      const std::string split = ": layers " + std::to_string(n_layer - n) + ".." + std::to_string(n_layer - 1) +
                                " + output head; cpu";
      EXPECT_NE(d.find(split), std::string::npos) << d;
    }
    std::vector<int32_t> tokens;
    const std::vector<float> lg = test::engine_logits(*gpu.engine, ids, 6, &tokens);
    ASSERT_EQ(lg.size(), lc.size());
    const double ref_err = test::nmse(lg.data(), want.data(), want.size());
    EXPECT_LE(ref_err, 2e-3) << "--gpu-layers " << n;
    EXPECT_LE(test::nmse(lg.data(), lc.data(), lc.size()), 1e-4) << "--gpu-layers " << n;
    EXPECT_EQ(tokens, cpu_tokens) << "--gpu-layers " << n;
    std::printf("--gpu-layers %d (%s): NMSE %.3g against the reference\n", n, d.c_str(), ref_err);
  }
}

// A KV cache and a backend over it, fed by hand (vulkan_backend_test.cpp's rig).
struct Rig {
  Arena arena;
  model::KvCache kv;
  std::unique_ptr<model::Backend> backend;
  Status init(const model::Model& m, const model::BackendParams& base, const model::KvParams& kp, int32_t rows) {
    model::BackendParams bp = base;
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

model::BackendParams params(governor::BackendKind kind, int32_t gpu_layers) {
  model::BackendParams p;
  p.kind = kind;
  p.gpu_layers = gpu_layers;
  p.masked = kNoHostImport;  // weights copied: their bytes show in the plan
  return p;
}

// Two sequences prefilled in one batch, then decoded together for ten steps, reusing the
// KV each part wrote (blocks of 4, a window of 8 with 2 sinks: blocks are evicted; K at
// q8_0): the split's logits are the CPU's, step by step.
TEST(VulkanLayers, TwoSequencesDecodeAfterPrefillAsTheCpu) {
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
  kp.types = {hal::DType::kQ8_0, hal::DType::kF16};
  Rig cpu, split;
  ASSERT_TRUE(cpu.init(**m, params(governor::BackendKind::kCpu, -1), kp, 12).ok());
  auto st = split.init(**m, params(governor::BackendKind::kVulkan, 2), kp, 12);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_NE(split.backend->describe().find("layers 3..4 + output head"), std::string::npos)
      << split.backend->describe();
  std::vector<int32_t> tok = {1, 403, 407, 261, 378, 429, 1, 300, 301, 302, 303, 304};
  std::vector<int32_t> seq = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  for (int step = 0; step < 10; ++step) {
    auto want = cpu.eval(tok, seq);
    auto got = split.eval(tok, seq);
    ASSERT_TRUE(want.ok() && got.ok()) << (got.ok() ? want.error().message : got.error().message);
    ASSERT_EQ(want->size(), got->size());
    EXPECT_LE(test::nmse(got->data(), want->data(), want->size()), 1e-5) << "step " << step;
    tok = {int32_t(10 + step), int32_t(40 + step)};
    seq = {0, 1};
  }
}

// Sessions save and restore a sequence through the backend's KvStore at the cache's
// offsets: every layer's K and V rows round-trip through whichever part holds the layer,
// and one access may not run from one layer into the next.
TEST(VulkanLayers, KvStoreReachesEveryLayerAtTheCachesOffsets) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  model::KvParams kp;
  kp.n_ctx = 32;
  kp.block = 4;
  kp.n_step = 4;
  Rig split;
  auto st = split.init(**m, params(governor::BackendKind::kVulkan, 3), kp, 4);
  ASSERT_TRUE(st.ok()) << st.error().message;
  const model::KvCache& kv = split.kv;
  // Rows at the pool's types (no block has been taken, so none has types of its own yet).
  const size_t kb = size_t(kv.block()) * hal::dtype_row_bytes(kp.types.k, kv.kv_dim());
  const size_t vb = size_t(kv.block()) * hal::dtype_row_bytes(kp.types.v, kv.kv_dim());
  auto fill = [](int32_t id, int32_t l, size_t n, uint8_t half) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 7 + size_t(id) * 31 + size_t(l) * 13 + half);
    return v;
  };
  for (int32_t id : {0, 1, kv.blocks_total() - 1})
    for (int32_t l = 0; l < kv.n_layer(); ++l) {
      Status k = split.backend->kv_write(kv.k_offset(id, l), fill(id, l, kb, 0).data(), kb);
      Status v = split.backend->kv_write(kv.v_offset(id, l), fill(id, l, vb, 1).data(), vb);
      ASSERT_TRUE(k.ok() && v.ok()) << (k.ok() ? v.error().message : k.error().message);
    }
  for (int32_t id : {0, 1, kv.blocks_total() - 1})
    for (int32_t l = 0; l < kv.n_layer(); ++l) {
      std::vector<uint8_t> k(kb), v(vb);
      ASSERT_TRUE(split.backend->kv_read(kv.k_offset(id, l), k.data(), kb).ok());
      ASSERT_TRUE(split.backend->kv_read(kv.v_offset(id, l), v.data(), vb).ok());
      EXPECT_EQ(k, fill(id, l, kb, 0)) << "block " << id << " layer " << l;
      EXPECT_EQ(v, fill(id, l, vb, 1)) << "block " << id << " layer " << l;
    }
  std::vector<uint8_t> two(kb + vb + 1);
  EXPECT_FALSE(split.backend->kv_read(kv.k_offset(0, 1), two.data(), two.size()).ok());
}

// The plan of a split holds both parts' regions, named by the layers they hold, and the
// two KV pools together are the whole pass's; the device's weight copy leaves out the
// layers the CPU runs. No device needed: planning opens none.
TEST(VulkanLayers, PlanShowsBothPartsAndSplitsTheKvPool) {
#if !AIRT_HAVE_VULKAN
  GTEST_SKIP() << "no Vulkan device (built without Vulkan)";
#endif
  const std::string path = test::model_path("synth-llama-mid-q8_0.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto region = [](const MemoryPlan& p, const std::string& name) -> const Region* {
    for (const Region& r : p.regions())
      if (r.name == name) return &r;
    return nullptr;
  };
  MemoryPlan whole_cpu, whole_gpu, split;
  ASSERT_TRUE(model::backend_plan(**m, params(governor::BackendKind::kCpu, -1), whole_cpu).ok());
  ASSERT_TRUE(model::backend_plan(**m, params(governor::BackendKind::kVulkan, -1), whole_gpu).ok());
  ASSERT_TRUE(model::backend_plan(**m, params(governor::BackendKind::kVulkan, 1), split).ok());
  const Region* kv_cpu = region(split, "kv pool");
  const Region* kv_gpu = region(split, "vulkan kv pool");
  ASSERT_TRUE(kv_cpu && kv_gpu);
  EXPECT_EQ(kv_cpu->bytes + kv_gpu->bytes, region(whole_cpu, "kv pool")->bytes);
  EXPECT_EQ(kv_gpu->bytes * 4, region(whole_gpu, "vulkan kv pool")->bytes);
  EXPECT_NE(kv_cpu->detail.find("cpu part: embeddings, layers 0..2"), std::string::npos) << kv_cpu->detail;
  EXPECT_NE(kv_gpu->detail.find("device part: layers 3..3, output head"), std::string::npos) << kv_gpu->detail;
  const Region* w_split = region(split, "vulkan weights q8_0");
  const Region* w_whole = region(whole_gpu, "vulkan weights q8_0");
  ASSERT_TRUE(w_split && w_whole);
  EXPECT_LT(w_split->bytes, w_whole->bytes);
  EXPECT_EQ(region(split, "logits"), nullptr);  // the CPU part keeps none: the device does
  EXPECT_NE(region(split, "vulkan logits"), nullptr);
}

TEST(VulkanLayersCli, SplitRunsAndPrintsWhereTheLayersWent) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto c = test::run_airt({"run", "-m", path, "-p", "Once upon a time", "-n", "8", "--temp", "0"});
  auto g = test::run_airt({"run", "-m", path, "-p", "Once upon a time", "-n", "8", "--temp", "0", "--backend",
                           "vulkan", "--gpu-layers", "2"});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(g.status, 0) << g.err;
  EXPECT_EQ(g.out, c.out);
  EXPECT_NE(g.err.find("--gpu-layers 2: vulkan"), std::string::npos) << g.err;
  EXPECT_NE(g.err.find("layers 3..4 + output head; cpu"), std::string::npos) << g.err;
}

// A session saved by a split (each part's layers read at the cache's offsets) resumes on
// the CPU, and the other way round, with the text of a run that never stopped.
TEST(VulkanLayersCli, SessionsMoveBetweenTheSplitAndTheCpu) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  const std::string dir = test::temp_dir();
  const std::vector<std::string> split = {"--backend", "vulkan", "--gpu-layers", "3"};
  auto run = [&](const std::string& session, const char* prompt, bool on_split) {
    std::vector<std::string> args = {"run", "-m", path, "-p", prompt, "-n", "8", "--temp", "0", "--session", session};
    if (on_split) args.insert(args.end(), split.begin(), split.end());
    return test::run_airt(args);
  };
  auto whole = test::run_airt({"run", "-m", path, "-p", "Once upon a time, there was", "-n", "8", "--temp", "0"});
  ASSERT_EQ(whole.status, 0) << whole.err;
  for (bool first_on_split : {true, false}) {
    const std::string session = dir + (first_on_split ? "/split-first.session" : "/cpu-first.session");
    auto a = run(session, "Once upon a time", first_on_split);
    ASSERT_EQ(a.status, 0) << a.err;
    auto b = run(session, "Once upon a time, there was", !first_on_split);
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_NE(b.err.find("resumed the conversation"), std::string::npos) << b.err;
    EXPECT_EQ(b.out, whole.out) << (first_on_split ? "split, then cpu" : "cpu, then split");
  }
}

TEST(VulkanLayersCli, BenchShowsTheSplit) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = test::run_airt({"bench", "-m", path, "-p", "8", "-n", "4", "-r", "1", "--backend", "vulkan",
                           "--gpu-layers", "3"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("layers 2..4 + output head; cpu"), std::string::npos) << r.err;
}

// A bad N names the flag; N > 0 with the cpu backend is refused (nothing to offload to).
TEST(VulkanLayersCli, BadCountsAndTheCpuBackendAreRefused) {
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  for (const char* bad : {"-1", "two", "", "3x"}) {
    auto r = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--backend", "vulkan", "--gpu-layers", bad});
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_NE(r.err.find("--gpu-layers '"), std::string::npos) << bad << ": " << r.err;
  }
  auto c = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--gpu-layers", "2"});
  EXPECT_EQ(c.status, 2);
  EXPECT_NE(c.err.find("--gpu-layers 2 runs layers on a Vulkan device, but the backend is cpu"), std::string::npos)
      << c.err;
  auto z = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--backend", "cpu", "--gpu-layers", "0"});
  EXPECT_EQ(z.status, 0) << z.err;  // nothing offloaded: consistent with the cpu
}

// With no driver: a split names the missing device, N = 0 needs none, auto keeps the CPU.
TEST(VulkanLayersCli, NoDevice) {
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  const char* old = std::getenv("VK_ICD_FILENAMES");
  const std::string saved = old ? old : "";
  setenv("VK_ICD_FILENAMES", "/nonexistent/airt-no-icd.json", 1);
  auto r = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--backend", "vulkan", "--gpu-layers", "2"});
  auto z = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--backend", "vulkan", "--gpu-layers", "0"});
  auto a = test::run_airt({"run", "-m", path, "-p", "x", "-n", "1", "--backend", "auto", "--gpu-layers", "2"});
  if (old) setenv("VK_ICD_FILENAMES", saved.c_str(), 1);
  else unsetenv("VK_ICD_FILENAMES");
  EXPECT_NE(r.status, 0);
#if AIRT_HAVE_VULKAN
  EXPECT_NE(r.err.find("no Vulkan device"), std::string::npos) << r.err;
#else
  EXPECT_NE(r.err.find("built without Vulkan"), std::string::npos) << r.err;
#endif
  EXPECT_EQ(z.status, 0) << z.err;
  EXPECT_EQ(a.status, 0) << a.err;
}

TEST(VulkanLayersConfig, GpuLayersKey) {
  auto c = service::config_parse(R"({"model": {"backend": "vulkan", "gpu_layers": 2}})", "airt.json");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->model.gpu_layers, 2);
  auto d = service::config_parse("{}", "airt.json");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->model.gpu_layers, -1);
  auto bad = service::config_parse(R"({"model": {"gpu_layers": -5}})", "airt.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("model.gpu_layers"), std::string::npos) << bad.error().message;
  auto cpu = service::config_parse(R"({"model": {"gpu_layers": 2}})", "airt.json");
  ASSERT_TRUE(cpu.ok()) << cpu.error().message;
  Status st = service::config_finalize(*cpu, "airt.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("model.gpu_layers: 2 layers on a Vulkan device, but model.backend is cpu"),
            std::string::npos)
      << st.error().message;
}

}  // namespace
}  // namespace airt
