// Memory pressure through the governor: four sequences of a real model run while a
// replayed trace takes MemAvailable below the governor's floor and back. The governor's
// memory floor shrinks the attention window and the KV precision through Engine::apply
// while the sequences run -- no allocation, no failed request, the KV pool's use falls --
// and grows them back when memory returns.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/engine/governed.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

struct Collect : engine::Sink {
  int finished = 0, errors = 0, full_length = 0;
  int32_t max_tokens = 0;
  void on_token(engine::Ticket, int32_t, std::string_view) override {}
  void on_finish(engine::Ticket, const engine::Finish& f) override {
    ++finished;
    full_length += f.completion_tokens == max_tokens;
  }
  void on_error(engine::Ticket, const ErrorInfo&) override { ++errors; }
};

// Plenty, then 100 MB (under a 512 MB floor) from 3 s to 8 s, then plenty again.
constexpr const char* kMemoryTrace =
    "t_s,mem_avail_mb\n"
    "0,3000\n"
    "2.9,3000\n"
    "3,100\n"
    "8,100\n"
    "8.1,3000\n"
    "100,3000\n";

TEST(GovernorMemory, TheFloorShrinksWindowAndKvWhileSequencesRunAndTheyGrowBack) {
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok());
  engine::EngineConfig ec;
  ec.n_slots = 4;
  ec.n_ctx = 256;
  ec.max_window = 0;  // the plan holds the whole context; apply() may set any window
  auto e = engine::Engine::create(**m, **tok, ec);
  ASSERT_TRUE(e.ok()) << e.error().message;
  engine::Engine& eng = **e;

  engine::GovernedSpaceOptions so;
  so.windows = {0, 64, 32};
  auto sc = engine::governed_space(eng, so);
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  auto space = governor::Space::make(*sc);
  ASSERT_TRUE(space.ok());
  auto trace = governor::Trace::parse(kMemoryTrace, "memory.csv");
  ASSERT_TRUE(trace.ok()) << trace.error().message;

  double t = 0;  // the trace's clock: 0.05 s a step
  engine::GovernorLoopConfig cfg;
  cfg.governor.limits.mem_floor_mb = 512;
  cfg.governor.limits.dwell_s = 1.0;
  cfg.clock = [&] { return t; };
  int memory_events = 0;
  cfg.on_event = [&](const governor::Event& ev) { memory_events += ev.pressure == governor::Pressure::kMemory; };
  // The KV pool's use at each step, and the narrowest window / KV precision seen.
  std::vector<int32_t> blocks;
  blocks.reserve(4096);
  int32_t narrowest = 1 << 30;
  bool q8_kv = false;
  cfg.on_step = [&](const governor::StepRecord& rec, const governor::Decision&) {
    const engine::EngineStats st = eng.stats();
    blocks.push_back(st.kv_blocks_used);
    if (rec.point.window > 0) narrowest = std::min(narrowest, rec.point.window);
    q8_kv = q8_kv || rec.point.kv_k == hal::DType::kQ8_0;
  };
  auto loop = engine::GovernorLoop::create(eng, governor::Sensors::replay(std::move(*trace)), std::move(*space),
                                           governor::QualityTable{}, nullptr, cfg);
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  engine::GovernorLoop& g = **loop;
  const size_t best = g.applied_point();

  std::vector<int32_t> prompt;
  ASSERT_TRUE((*tok)->encode("Once upon a time", true, false, prompt).ok());
  engine::Request r;
  r.prompt_tokens = prompt;
  r.max_tokens = 240;  // runs through the whole trace: 4 x 240 tokens, one step each
  r.ignore_eos = true;
  r.sampling.temp = 0;
  Collect sink;
  sink.max_tokens = r.max_tokens;
  for (engine::Ticket k = 1; k <= 4; ++k) ASSERT_TRUE(eng.submit(k, r).ok());

  int64_t allocations = 0;
  size_t before_floor = 0, in_floor = 0;  // step indices: the last before 3 s, the last before 8 s
  while (true) {
    test::AllocScope scope;
    const bool more = eng.step(sink);
    if (blocks.size() > 4) allocations += scope.count();
    if (!more) break;
    if (t < 3.0) before_floor = blocks.size();
    if (t < 8.0) in_floor = blocks.size();
    t += 0.05;
  }
  EXPECT_EQ(allocations, 0) << "shrinking and growing allocate nothing";
  EXPECT_EQ(sink.errors, 0);
  EXPECT_EQ(sink.finished, 4);
  EXPECT_EQ(sink.full_length, 4) << "every sequence ran to its end";
  EXPECT_GE(memory_events, 1);
  EXPECT_EQ(narrowest, 32) << "the window shrank to the narrowest";
  EXPECT_TRUE(q8_kv) << "the KV precision went down to q8_0";
  ASSERT_GT(before_floor, 0u);
  ASSERT_GT(in_floor, before_floor);
  EXPECT_LT(blocks[in_floor - 1], blocks[before_floor - 1]) << "the KV pool holds less while memory is short";
  EXPECT_EQ(g.applied_point(), best) << "back at " << g.describe_point();
  EXPECT_EQ(eng.point().window, 0);
  EXPECT_EQ(eng.point().kv_k, hal::DType::kF16);
}

}  // namespace
}  // namespace airt
