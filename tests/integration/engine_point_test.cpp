// The operating point: weight tiers of one model (the synthetic Q8_0 / Q4_0 pair), and
// switching tier, window and threads between steps of a 4-sequence run — no allocation,
// no failed request, the same greedy output afterwards as an engine that never switched.
#include <gtest/gtest.h>

#include <algorithm>


#include "hal/cpu/kernels.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

// Collects tokens of tickets 0..9 into buffers reserved up front (no allocation in the loop).
struct Collect : engine::Sink {
  std::vector<int32_t> tokens[10];
  engine::FinishReason reason[10];
  int finished = 0, errors = 0;
  Collect() {
    for (auto& t : tokens) t.reserve(256);
  }
  void on_token(engine::Ticket t, int32_t id, std::string_view) override { tokens[t].push_back(id); }
  void on_finish(engine::Ticket t, const engine::Finish& f) override {
    reason[t] = f.reason;
    ++finished;
  }
  void on_error(engine::Ticket, const ErrorInfo&) override { ++errors; }
};

std::unique_ptr<model::Model> load_ladder() {
  std::string q8 = test::model_path("synth-llama-mid-q8_0.gguf"), q4 = test::model_path("synth-llama-mid-q4_0.gguf");
  if (q8.empty() || q4.empty()) return nullptr;
  auto m = model::Model::load(q8);
  EXPECT_TRUE(m.ok()) << m.error().message;
  Status s = (*m)->add_tier(q4);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return std::move(*m);
}

TEST(ModelTiers, TiersOfOneModelBindAndOthersAreRefusedByTheirFirstDifference) {
  auto m = load_ladder();
  if (!m) GTEST_SKIP() << "shared models absent";
  ASSERT_EQ(m->n_tiers(), 2);
  EXPECT_STREQ(m->tier_name(0), "q8_0");
  EXPECT_STREQ(m->tier_name(1), "q4_0");
  EXPECT_EQ(m->find_tier("q4_0"), 1);
  EXPECT_EQ(m->find_tier("f16"), -1);
  EXPECT_NE(m->tier(0).weights.layers[0].wq.data, m->tier(1).weights.layers[0].wq.data);
  EXPECT_EQ(m->mapped_bytes(), m->tier(0).weight_bytes + m->tier(1).weight_bytes);
  // Another model: the error names the file and the first difference.
  std::string other = test::model_path("stories260K.gguf");
  Status s = m->add_tier(other);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("stories260K.gguf is not a tier of"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("n_vocab is 512"), std::string::npos) << s.error().message;
  EXPECT_EQ(m->n_tiers(), 2) << "a refused tier changes nothing";
  // Two real models of one vocabulary but other shapes.
  auto stories = model::Model::load(other);
  ASSERT_TRUE(stories.ok());
  s = (*stories)->add_tier(test::model_path("llama2xs-vocab512.gguf"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("feed_forward_length is 192, the first file's 172"), std::string::npos)
      << s.error().message;
}

engine::EngineConfig ladder_config() {
  engine::EngineConfig c;
  c.n_slots = 4;
  c.n_ctx = 96;
  c.prefill_chunk = 8;
  c.kernels = hal::kernels_best().value();
  c.n_threads = 2;
  return c;
}

engine::Request greedy_request(std::span<const int32_t> prompt, int n) {
  engine::Request r;
  r.prompt_tokens = prompt;
  r.max_tokens = n;
  r.ignore_eos = true;
  r.sampling.temp = 0;
  return r;
}

// Cycles the operating point every 3 steps: q4_0 tier, a window, one thread, and back.
struct Switcher {
  int64_t steps = 0;
  int failures = 0;
  int q4_steps = 0, one_thread_steps = 0, window_steps = 0;
  static void hook(void* ctx, engine::Engine& e, const governor::StepRecord& rec) {
    auto* self = static_cast<Switcher*>(ctx);
    self->q4_steps += rec.point.tier == 1;
    self->one_thread_steps += rec.point.threads == 1;
    self->window_steps += rec.point.window == 24;
    if (++self->steps % 3 != 0) return;
    governor::OperatingPoint p = e.point();
    switch ((self->steps / 3) % 4) {
      case 1: p.tier = 1; break;
      case 2: p.window = 24, p.sinks = 4; break;
      case 3: p.threads = 1; break;
      default: p = governor::OperatingPoint{0, 0, 0, hal::DType::kF16, hal::DType::kF16, 0, 2}; break;
    }
    if (!e.apply(p).ok()) ++self->failures;
  }
};

TEST(OperatingPoint, SwitchingTierWindowAndThreadsDuringAFourSequenceRun) {
  auto m = load_ladder();
  if (!m) GTEST_SKIP() << "shared models absent";
  auto tok = text::Tokenizer::from_gguf(m->file());
  ASSERT_TRUE(tok.ok());
  auto e = engine::Engine::create(*m, **tok, ladder_config());
  ASSERT_TRUE(e.ok()) << e.error().message;
  std::vector<std::vector<int32_t>> prompts;
  for (int s = 0; s < 4; ++s) {
    prompts.emplace_back();
    for (int i = 0; i < 5 + 7 * s; ++i) prompts.back().push_back(int32_t((s * 7919 + i * 104729 + 13) % 32000));
  }
  Switcher sw;
  (*e)->set_step_hook(&Switcher::hook, &sw);
  Collect sink;
  for (int s = 0; s < 4; ++s) ASSERT_TRUE((*e)->submit(engine::Ticket(s + 1), greedy_request(prompts[size_t(s)], 40)).ok());
  test::AllocScope scope;
  while ((*e)->step(sink)) {
  }
  EXPECT_EQ(scope.count(), 0) << "heap allocations while switching operating points";
  EXPECT_EQ(sw.failures, 0);
  EXPECT_EQ(sink.errors, 0);
  ASSERT_EQ(sink.finished, 4);
  for (int t = 1; t <= 4; ++t) {
    EXPECT_EQ(sink.reason[t], engine::FinishReason::kLength) << t;
    EXPECT_EQ(sink.tokens[t].size(), 40u) << t;
  }
  EXPECT_GT(sw.q4_steps, 0);
  EXPECT_GT(sw.one_thread_steps, 0);
  EXPECT_GT(sw.window_steps, 0);
  // Back at the starting point, a greedy sequence gives what an engine that never switched gives.
  (*e)->set_step_hook(nullptr, nullptr);
  ASSERT_TRUE((*e)->apply(governor::OperatingPoint{0, 0, 0, hal::DType::kF16, hal::DType::kF16, 0, 2}).ok());
  ASSERT_TRUE((*e)->submit(9, greedy_request(prompts[3], 24)).ok());
  while ((*e)->step(sink)) {
  }
  auto fresh = engine::Engine::create(*m, **tok, ladder_config());
  ASSERT_TRUE(fresh.ok());
  Collect plain;
  ASSERT_TRUE((*fresh)->submit(9, greedy_request(prompts[3], 24)).ok());
  while ((*fresh)->step(plain)) {
  }
  EXPECT_EQ(sink.tokens[9], plain.tokens[9]);
  EXPECT_EQ(sink.tokens[9].size(), 24u);
}

// Switches to the q4_0 tier once every sequence has generated `after` tokens, and
// watches what the steps after the switch evaluate.
struct TierSwitch {
  const Collect* sink = nullptr;
  size_t after = 6;
  bool switched = false;
  int failures = 0, tier1_steps = 0, prefill_rows_after = 0;
  static void hook(void* ctx, engine::Engine& e, const governor::StepRecord& rec) {
    auto* self = static_cast<TierSwitch*>(ctx);
    if (self->switched) {
      self->tier1_steps += rec.point.tier == 1;
      self->prefill_rows_after += rec.rows_prefill;
      return;
    }
    for (int t = 1; t <= 4; ++t)
      if (self->sink->tokens[t].size() < self->after) return;
    governor::OperatingPoint p = e.point();
    p.tier = 1;
    if (!e.apply(p).ok()) ++self->failures;
    self->switched = true;
  }
};

// The ladder's promise: a tier switch mid-generation takes effect at the next token for
// all 4 sequences, none is evaluated again (its KV, written on the old tier, is kept),
// and every one completes; the tokens before the switch are the unswitched engine's.
TEST(OperatingPoint, SwitchingTierMidGenerationOnFourSequencesKeepsTheirKvAndCompletesThem) {
  auto m = load_ladder();
  if (!m) GTEST_SKIP() << "shared models absent";
  auto tok = text::Tokenizer::from_gguf(m->file());
  ASSERT_TRUE(tok.ok());
  std::vector<std::vector<int32_t>> prompts;
  for (int s = 0; s < 4; ++s) {
    prompts.emplace_back();
    for (int i = 0; i < 4 + 5 * s; ++i) prompts.back().push_back(int32_t((s * 7877 + i * 104723 + 29) % 32000));
  }
  auto run = [&](TierSwitch* sw, Collect& sink) {
    auto e = engine::Engine::create(*m, **tok, ladder_config());
    ASSERT_TRUE(e.ok()) << e.error().message;
    if (sw) (*e)->set_step_hook(&TierSwitch::hook, sw);
    for (int s = 0; s < 4; ++s) ASSERT_TRUE((*e)->submit(engine::Ticket(s + 1), greedy_request(prompts[size_t(s)], 30)).ok());
    while ((*e)->step(sink)) {
    }
  };
  Collect plain, switched;
  run(nullptr, plain);
  TierSwitch sw;
  sw.sink = &switched;
  run(&sw, switched);
  ASSERT_TRUE(sw.switched);
  EXPECT_EQ(sw.failures, 0);
  EXPECT_GT(sw.tier1_steps, 0) << "the switch took effect";
  EXPECT_EQ(sw.prefill_rows_after, 0) << "no sequence was evaluated again after the switch";
  EXPECT_EQ(switched.errors, 0);
  ASSERT_EQ(switched.finished, 4);
  for (int t = 1; t <= 4; ++t) {
    EXPECT_EQ(switched.reason[t], engine::FinishReason::kLength) << t;
    EXPECT_EQ(switched.tokens[t].size(), 30u) << t;
    EXPECT_TRUE(std::equal(plain.tokens[t].begin(), plain.tokens[t].begin() + long(sw.after), switched.tokens[t].begin()))
        << "sequence " << t << ": tokens before the switch are the first tier's";
  }
}

TEST(OperatingPoint, PointsOutsideThePlanAreRefusedAndChangeNothing) {
  auto m = load_ladder();
  if (!m) GTEST_SKIP() << "shared models absent";
  auto tok = text::Tokenizer::from_gguf(m->file());
  ASSERT_TRUE(tok.ok());
  engine::EngineConfig c = ladder_config();
  c.window = 32;  // a windowed plan holds no wider window
  c.sinks = 4;
  auto e = engine::Engine::create(*m, **tok, c);
  ASSERT_TRUE(e.ok()) << e.error().message;
  const governor::OperatingPoint before = (*e)->point();
  governor::OperatingPoint p = before;
  p.tier = 2;
  EXPECT_NE((*e)->apply(p).error().message.find("tier 2"), std::string::npos);
  p = before;
  p.window = 64;
  EXPECT_NE((*e)->apply(p).error().message.find("plan holds windows of 1..32"), std::string::npos);
  p = before;
  p.threads = 3;
  EXPECT_NE((*e)->apply(p).error().message.find("the plan has 2"), std::string::npos);
  p = before;
  p.draft_len = 4;
  EXPECT_FALSE((*e)->apply(p).ok());
  p = before;
  p.window = 16;
  p.kv_k = p.kv_v = hal::DType::kQ8_0;
  EXPECT_TRUE((*e)->apply(p).ok());  // narrower window, smaller KV rows: within the plan
  EXPECT_EQ((*e)->point(), before) << "applied at the next step, not before";
  Collect sink;
  ASSERT_TRUE((*e)->submit(1, greedy_request(std::vector<int32_t>{1, 2, 3}, 2)).ok());
  while ((*e)->step(sink)) {
  }
  EXPECT_EQ((*e)->point(), p);
  governor::StepRecord rec[4];
  const size_t n = (*e)->recent_steps(rec);
  ASSERT_GE(n, 2u);
  EXPECT_EQ(rec[n - 1].point.window, 16);
  EXPECT_EQ(rec[0].rows_prefill, 3);
  EXPECT_EQ(rec[n - 1].rows_decode, 1);
}

}  // namespace
}  // namespace airt
