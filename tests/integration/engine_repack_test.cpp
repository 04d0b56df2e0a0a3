// Q4_0 matrices repacked at start-up for the CPU kernels (model/repack.h): the plan names
// the copies and takes their bytes off the mapped weights (the total does not grow); the
// logits of a repacked engine match those of one multiplying the mapped rows; a device
// placement or --no-repack keeps the rows as they are; the engine's drafters on the
// target read the same copies.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hal/cpu/kernels.h"
#include "runtime/engine/engine.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"

namespace airt::engine {
namespace {

const Region* find(const MemoryPlan& p, const std::string& name) {
  for (const Region& r : p.regions())
    if (r.name == name) return &r;
  return nullptr;
}

// The kernels the engine gets by default, or a skip where they multiply Q4_0 rows as
// they are.
const hal::Kernels* repacking_kernels() {
  const hal::Kernels* k = hal::kernels_best().value();
  return k->of(hal::DType::kQ4_0).packed_pays ? k : nullptr;
}

TEST(EngineRepack, ThePlanMovesTheRepackedRowsFromMappedToResident) {
  const std::string path = test::model_path("synth-llama-mid-q4_0.gguf");
  AIRT_REQUIRE_FILE(path);
  const hal::Kernels* k = repacking_kernels();
  if (!k) GTEST_SKIP() << "the kernels here multiply Q4_0 rows as they are";
  test::Loaded l = test::load_model(path);
  ASSERT_TRUE(l.model);
  EngineConfig c = test::scoring_config(256, 32);
  c.kernels = k;
  const MemoryPlan on = Engine::plan(*l.model, c).value();
  c.repack = false;
  const MemoryPlan off = Engine::plan(*l.model, c).value();
  const Region* copies = find(on, "weights (resident copies)");
  ASSERT_TRUE(copies);
  EXPECT_GT(copies->bytes, l.model->weight_bytes() / 4) << copies->detail;
  EXPECT_EQ(find(off, "weights (resident copies)")->bytes, 0u);
  EXPECT_EQ(find(on, "weights (mapped)")->bytes + copies->bytes, find(off, "weights (mapped)")->bytes);
  EXPECT_EQ(on.arena_bytes() + on.mapped_bytes(), off.arena_bytes() + off.mapped_bytes()) << "nothing counted twice";
  c.repack = true;
  c.backend = governor::BackendKind::kVulkan;
  c.cpu_fallback = true;
  if (auto dev = Engine::plan(*l.model, c); dev.ok()) {
    EXPECT_EQ(find(*dev, "weights (resident copies)")->bytes, 0u) << "a device reads the mapped rows";
  }
}

TEST(EngineRepack, LogitsMatchTheMappedRows) {
  const std::string path = test::model_path("synth-llama-mid-q4_0.gguf");
  AIRT_REQUIRE_FILE(path);
  const hal::Kernels* k = repacking_kernels();
  if (!k) GTEST_SKIP() << "the kernels here multiply Q4_0 rows as they are";
  std::vector<float> logits[2];
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < 40; ++i) ids.push_back(1 + (i * 37) % 500);
  for (bool repack : {true, false}) {
    test::Loaded l = test::load_model(path);
    ASSERT_TRUE(l.model);
    EngineConfig c = test::scoring_config(256, 16);  // prompts in 16-row steps, and 1-row tails
    c.kernels = k;
    c.repack = repack;
    test::make_engine(l, c);
    ASSERT_TRUE(l.engine);
    logits[repack ? 0 : 1] = test::engine_logits(*l.engine, ids);
    ASSERT_FALSE(logits[repack ? 0 : 1].empty());
  }
  // The same integer block sums, the float additions in another order: on this random
  // model that moves the logits about as far as the other batched paths do
  // (engine_batch_test.cpp), well inside the reference's 2e-3 (logits_test.cpp).
  EXPECT_LE(test::nmse(logits[0].data(), logits[1].data(), logits[1].size()), 1e-3);
}

}  // namespace
}  // namespace airt::engine
