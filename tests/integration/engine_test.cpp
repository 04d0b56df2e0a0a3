// The engine's contract with its caller: slots, stop conditions, cancellation, deadlines,
// priorities, a full pool, governor knobs, on a real model.
#include <gtest/gtest.h>

#include <map>

#include "runtime/core/clock.h"
#include "runtime/engine/engine.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

struct Collect : engine::Sink {
  std::map<engine::Ticket, std::vector<int32_t>> tokens;
  std::map<engine::Ticket, std::string> text;
  std::map<engine::Ticket, engine::Finish> finished;
  std::map<engine::Ticket, ErrorInfo> errors;
  std::vector<engine::Ticket> first_token_order;
  void on_token(engine::Ticket t, int32_t id, std::string_view d) override {
    if (tokens[t].empty()) first_token_order.push_back(t);
    tokens[t].push_back(id);
    text[t] += d;
  }
  void on_finish(engine::Ticket t, const engine::Finish& f) override {
    EXPECT_EQ(finished.count(t), 0u) << "on_finish twice";
    finished[t] = f;
    text[t] += f.tail;
  }
  void on_error(engine::Ticket t, const ErrorInfo& e) override { errors[t] = e; }
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string path = test::model_path("stories260K.gguf");
    if (path.empty()) GTEST_SKIP() << "shared models absent";
    m_ = std::move(model::Model::load(path).value());
    tok_ = std::move(text::Tokenizer::from_gguf(m_->file()).value());
  }
  std::unique_ptr<engine::Engine> make(engine::EngineConfig c) {
    if (!c.n_ctx) c.n_ctx = 128;
    auto e = engine::Engine::create(*m_, *tok_, c);
    EXPECT_TRUE(e.ok()) << e.error().message;
    return e.ok() ? std::move(*e) : nullptr;
  }
  static engine::Request greedy(const char* prompt, int n) {
    engine::Request r;
    r.prompt = prompt;
    r.max_tokens = n;
    r.sampling.temp = 0;
    return r;
  }
  static void drain(engine::Engine& e, Collect& sink) {
    for (int i = 0; i < 10000 && e.step(sink); ++i) {
    }
  }
  std::unique_ptr<model::Model> m_;
  std::unique_ptr<text::Tokenizer> tok_;
};

TEST_F(EngineTest, MaxTokensEndsWithLength) {
  auto e = make({});
  ASSERT_TRUE(e->submit(1, greedy("Once upon a time", 20)).ok());
  Collect sink;
  drain(*e, sink);
  ASSERT_EQ(sink.finished.count(1), 1u);
  EXPECT_EQ(sink.finished[1].reason, engine::FinishReason::kLength);
  EXPECT_EQ(sink.tokens[1].size(), 20u);
  EXPECT_EQ(sink.finished[1].completion_tokens, 20);
  EXPECT_GT(sink.finished[1].prompt_tokens, 3);
  EXPECT_EQ(sink.text[1], tok_->decode(sink.tokens[1]).substr(0, sink.text[1].size()));
  EXPECT_FALSE(e->busy());
}

TEST_F(EngineTest, StopStringEndsBeforeIt) {
  auto e = make({});
  Collect plain;
  ASSERT_TRUE(e->submit(1, greedy("Once upon a time", 60)).ok());
  drain(*e, plain);
  const std::string full = plain.text[1];
  ASSERT_GT(full.size(), 40u);
  // A stop string from the middle of the text, spanning token boundaries.
  const std::string stop = full.substr(25, 6);
  std::vector<std::string> stops = {"never appears here", stop};
  engine::Request r = greedy("Once upon a time", 60);
  r.stop = stops;
  Collect sink;
  ASSERT_TRUE(e->submit(2, r).ok());
  drain(*e, sink);
  ASSERT_EQ(sink.finished.count(2), 1u);
  EXPECT_EQ(sink.finished[2].reason, engine::FinishReason::kStop);
  EXPECT_EQ(sink.text[2], full.substr(0, full.find(stop)));
}

TEST_F(EngineTest, SlotsFullIsAnImmediateError) {
  engine::EngineConfig c;
  c.n_slots = 2;
  auto e = make(c);
  ASSERT_TRUE(e->submit(1, greedy("a", 5)).ok());
  ASSERT_TRUE(e->submit(2, greedy("b", 5)).ok());
  Status s = e->submit(3, greedy("c", 5));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Error::kResourceExhausted);
  EXPECT_EQ(e->submit(1, greedy("d", 5)).error().code, Error::kRequestInvalid);  // ticket in use
  Collect sink;
  drain(*e, sink);
  EXPECT_EQ(sink.finished.size(), 2u);
  EXPECT_TRUE(e->submit(3, greedy("c", 5)).ok());  // freed slots take new requests
}

TEST_F(EngineTest, BadRequestsAreRefused) {
  auto e = make({});
  std::string long_prompt(2000, 'x');
  EXPECT_EQ(e->submit(1, greedy(long_prompt.c_str(), 5)).error().code, Error::kRequestTooLarge);
  EXPECT_EQ(e->submit(1, greedy("a", 0)).error().code, Error::kRequestInvalid);
  engine::Request r = greedy("a", 5);
  int32_t bad = 100000;
  r.prompt_tokens = {&bad, 1};
  EXPECT_EQ(e->submit(1, r).error().code, Error::kRequestInvalid);
  std::vector<std::string> stops(10, "x");
  r = greedy("a", 5);
  r.stop = stops;
  EXPECT_FALSE(e->submit(1, r).ok());
  EXPECT_FALSE(e->busy());
}

TEST_F(EngineTest, CancelFinishesAtTheNextStep) {
  engine::EngineConfig c;
  c.n_slots = 2;
  auto e = make(c);
  ASSERT_TRUE(e->submit(1, greedy("Once upon a time", 100)).ok());
  ASSERT_TRUE(e->submit(2, greedy("One day", 30)).ok());
  Collect sink;
  for (int i = 0; i < 5; ++i) e->step(sink);
  e->cancel(1);
  e->cancel(999);  // unknown: ignored
  e->step(sink);
  ASSERT_EQ(sink.finished.count(1), 1u);
  EXPECT_EQ(sink.finished[1].reason, engine::FinishReason::kCancelled);
  EXPECT_EQ(e->free_slots(), 1);
  drain(*e, sink);
  EXPECT_EQ(sink.finished[2].reason, engine::FinishReason::kLength);
}

TEST_F(EngineTest, PassedDeadlineFinishes) {
  auto e = make({});
  engine::Request r = greedy("Once upon a time", 100);
  r.deadline_ns = now_ns() - 1;
  ASSERT_TRUE(e->submit(1, r).ok());
  Collect sink;
  drain(*e, sink);
  EXPECT_EQ(sink.finished[1].reason, engine::FinishReason::kDeadline);
  EXPECT_EQ(sink.tokens[1].size(), 0u);
}

TEST_F(EngineTest, EarliestDeadlineThenPriorityPrefillsFirst) {
  engine::EngineConfig c;
  c.n_slots = 3;
  c.prefill_chunk = 4;
  c.n_batch = 4;  // one prefill chunk per step: the order decides who starts first
  auto e = make(c);
  const char* p = "Lily and Ben went to the park to play with a big red ball";
  engine::Request low = greedy(p, 3), high = greedy(p, 3), urgent = greedy(p, 3);
  low.priority = 1;
  high.priority = 9;
  urgent.priority = 0;
  urgent.deadline_ns = now_ns() + int64_t(60e9);
  ASSERT_TRUE(e->submit(1, low).ok());
  ASSERT_TRUE(e->submit(2, high).ok());
  ASSERT_TRUE(e->submit(3, urgent).ok());
  Collect sink;
  drain(*e, sink);
  ASSERT_EQ(sink.first_token_order.size(), 3u);
  EXPECT_EQ(sink.first_token_order[0], 3u);
  EXPECT_EQ(sink.first_token_order[1], 2u);
  EXPECT_EQ(sink.first_token_order[2], 1u);
  EXPECT_TRUE(engine::runs_before({100, 0, 5}, {0, 9, 1}));
  EXPECT_TRUE(engine::runs_before({0, 9, 5}, {0, 1, 1}));
  EXPECT_TRUE(engine::runs_before({0, 5, 1}, {0, 5, 2}));
}

TEST_F(EngineTest, FullKvPoolFailsOneRequestOthersContinue) {
  engine::EngineConfig c;
  c.n_slots = 2;
  c.kv_block = 16;
  c.kv_blocks = 5;  // 80 positions for two sequences that want 64 each
  c.n_ctx = 64;
  auto e = make(c);
  engine::Request a = greedy("Once upon a time", 60), b = greedy("One day", 60);
  a.ignore_eos = b.ignore_eos = true;
  ASSERT_TRUE(e->submit(1, a).ok());
  ASSERT_TRUE(e->submit(2, b).ok());
  Collect sink;
  drain(*e, sink);
  ASSERT_EQ(sink.errors.size(), 1u);
  const auto& err = sink.errors.begin()->second;
  EXPECT_EQ(err.code, Error::kResourceExhausted);
  EXPECT_NE(err.message.find("KV pool full"), std::string::npos) << err.message;
  EXPECT_EQ(sink.finished.size(), 1u);
  EXPECT_EQ(e->stats().kv_blocks_used, 0);
}

TEST_F(EngineTest, GovernorKnobsBetweenTokens) {
  engine::EngineConfig c;
  c.n_ctx = 256;
  c.kv_types = {hal::DType::kQ8_0, hal::DType::kQ8_0};
  auto e = make(c);
  engine::Request r = greedy("Once upon a time", 200);
  r.ignore_eos = true;
  ASSERT_TRUE(e->submit(1, r).ok());
  Collect sink;
  for (int i = 0; i < 20; ++i) e->step(sink);
  ASSERT_TRUE(e->set_window(32, 4).ok());
  EXPECT_FALSE(e->set_kv_types({hal::DType::kF16, hal::DType::kF16}).ok());  // larger than the pool's blocks
  ASSERT_TRUE(e->set_kv_types({hal::DType::kQ4_0, hal::DType::kQ4_0}).ok());
  for (int i = 0; i < 100; ++i) e->step(sink);
  // The window keeps at most sinks + window + a block or two.
  EXPECT_LE(e->stats().kv_blocks_used, 1 + 2 + 2);
  EXPECT_EQ(e->stats().window, 32);
  drain(*e, sink);
  EXPECT_EQ(sink.finished[1].reason, engine::FinishReason::kLength);
  EXPECT_EQ(sink.tokens[1].size(), 200u);
}

}  // namespace
}  // namespace airt
