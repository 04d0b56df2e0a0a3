// Promise 1: after start-up the token loop performs no heap allocation.
#include <gtest/gtest.h>

#include <filesystem>

#include "hal/cpu/thread_pool.h"
#include "runtime/engine/engine.h"
#include "hal/cpu/kernels.h"
#include "runtime/model/model.h"
#include "runtime/text/sampler.h"
#include "runtime/text/tokenizer.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

// Threads of this process (Linux: entries of /proc/self/task); -1 if unreadable.
int thread_count() {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++n;
  return ec ? -1 : n;
}

// Counts what it is told without allocating.
struct CountingSink : engine::Sink {
  int64_t tokens = 0, bytes = 0, finished = 0, errors = 0;
  void on_token(engine::Ticket, int32_t, std::string_view d) override {
    ++tokens;
    bytes += int64_t(d.size());
  }
  void on_finish(engine::Ticket, const engine::Finish& f) override {
    ++finished;
    bytes += int64_t(f.tail.size());
  }
  void on_error(engine::Ticket, const ErrorInfo&) override { ++errors; }
};

// Generates 200 tokens on `threads` threads with the best kernels of this CPU through a
// one-slot engine (the CLI's) and counts heap allocations after the first token.
void generate_without_allocation(int threads) {
  std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok());
  engine::EngineConfig c;
  c.n_ctx = 256;
  c.kernels = hal::kernels_best().value();
  c.n_threads = threads;
  auto e = engine::Engine::create(**m, **tok, c);
  ASSERT_TRUE(e.ok()) << e.error().message;
  engine::Request r;
  r.prompt = "Once upon a time";
  r.max_tokens = 200;
  r.ignore_eos = true;
  r.sampling.temp = 0.9f;
  r.sampling.top_k = 40;
  r.sampling.top_p = 0.95f;
  r.sampling.min_p = 0.02f;
  r.sampling.repeat_penalty = 1.1f;
  r.sampling.seed = 1234;
  ASSERT_TRUE((*e)->submit(1, r).ok());
  CountingSink sink;
  (*e)->step(sink);  // the prompt and the first token
  const int threads_before = thread_count();
  test::AllocScope scope;
  while ((*e)->step(sink)) {
  }
  EXPECT_EQ(scope.count(), 0) << "heap allocations during 199 tokens after the first";
  EXPECT_EQ(thread_count(), threads_before) << "threads created while generating";
  EXPECT_EQ(sink.tokens, 200);
  EXPECT_GT(sink.bytes, 0);
}

engine::EngineConfig pinned_config() {
  engine::EngineConfig c;
  c.n_slots = 4;
  c.n_ctx = 512;
  c.prefill_chunk = 16;
  c.kv_types = {hal::DType::kQ8_0, hal::DType::kQ8_0};
  c.window = 128;
  c.sinks = 4;
  return c;
}

// The plan is exact and stable: these settings on this model take exactly this arena, and
// the engine carves exactly what the plan says.
TEST(EnginePlan, ArenaSizeIsPinned) {
  std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok());
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok());
  engine::EngineConfig c = pinned_config();
  auto plan = engine::Engine::plan(**m, c);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::printf("%s", plan->to_string().c_str());
  EXPECT_EQ(plan->arena_bytes(), 1037120u);
  size_t kv = 0, kv_tables = 0;
  for (const Region& r : plan->regions()) {
    if (r.name == "kv pool") kv = r.bytes;
    if (r.name == "kv tables") kv_tables = r.bytes;
  }
  // 4 slots x (1 sink block + ceil((128+16-1)/16) window blocks + 1) blocks of 16 positions
  // x 340 B (5 layers x K and V x 34 B), plus block types, the free list, the tables.
  EXPECT_EQ(kv + kv_tables, 4u * 11 * 16 * 340 + 2 * 64 + 192 + 128 + 4 * 128);
  EXPECT_EQ(kv, 4u * 11 * 16 * 340) << "the backend's block storage";
  auto e = engine::Engine::create(**m, **tok, c);
  ASSERT_TRUE(e.ok()) << e.error().message;
  // The engine carves exactly what the plan says, to the byte.
  EXPECT_EQ(align_up((*e)->arena().used(), Arena::kDefaultAlign), plan->arena_bytes());
  EXPECT_EQ((*e)->arena().capacity(), align_up(plan->arena_bytes(), 4096)) << "the arena is the plan, nothing else";
  // More slots grow the plan.
  c.n_slots = 8;
  EXPECT_GT(engine::Engine::plan(**m, c)->arena_bytes(), plan->arena_bytes());
}

// 1000 tokens over 4 slots as 8 requests of 125, each submitted (text prompt, stop
// strings, its own sampling parameters) while the others run: submit() tokenizes into the
// arena and reconfigures the slot's carved sampler, step() decodes; neither allocates.
TEST(NoAllocation, ThousandTokensOverFourSequencesSubmitsIncluded) {
  std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok());
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok());
  auto e = engine::Engine::create(**m, **tok, pinned_config());
  ASSERT_TRUE(e.ok()) << e.error().message;
  const char* prompts[8] = {"Once upon a time", "The cat sat",   "Lily and Ben went to the park", "One day, a big",
                            "Tom had a red ball", "The sun was", "A little bird",                 "She said"};
  std::vector<std::string> stops = {"The end."};
  auto request = [&](int i) {
    engine::Request r;
    r.prompt = prompts[i];
    r.max_tokens = 125;
    r.ignore_eos = true;  // exactly 1000 tokens
    r.stop = {stops.data(), size_t(i % 2)};
    r.sampling.temp = 0.9f;
    r.sampling.top_k = 40 + i;
    r.sampling.repeat_penalty = 1.1f;
    r.sampling.repeat_last_n = 32 + 8 * i;
    r.sampling.seed = uint64_t(i + 1);
    return r;
  };
  CountingSink sink;
  int submitted = 0, refused = 0;
  test::AllocScope scope;
  for (; submitted < 4; ++submitted) refused += !(*e)->submit(engine::Ticket(submitted + 1), request(submitted)).ok();
  while ((*e)->step(sink) || submitted < 8) {
    while (submitted < 8 && (*e)->free_slots() > 0) {
      refused += !(*e)->submit(engine::Ticket(submitted + 1), request(submitted)).ok();
      ++submitted;
    }
  }
  EXPECT_EQ(scope.count(), 0) << "heap allocations in 8 submits and " << sink.tokens << " decoded tokens";
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(sink.finished, 8);
  EXPECT_EQ(sink.errors, 0);
  EXPECT_GE(sink.tokens, 900);  // a stop string may end some early
  EXPECT_GT(sink.bytes, 0);
}

TEST(NoAllocation, TwoHundredGeneratedTokens) { generate_without_allocation(1); }

// The threaded path: the pool is created before the loop; running jobs on it must neither
// allocate nor create threads.
TEST(NoAllocation, TwoHundredGeneratedTokensOnTwoThreads) { generate_without_allocation(2); }

// Quantized weights on two threads: prompt batches (the tiled matrix path, multi-row
// attention) and single tokens (the streaming path) allocate nothing once the context
// exists.
TEST(NoAllocation, QuantizedBatchesAndTokensOnTwoThreads) {
  std::string path = test::model_path("synth-llama-mid-q4_0.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  engine::EngineConfig c;
  c.n_ctx = 128;
  c.prefill_chunk = 32;
  c.kernels = hal::kernels_best().value();
  c.n_threads = 2;
  auto e = engine::Engine::create(**m, **tok, c);
  ASSERT_TRUE(e.ok()) << e.error().message;
  std::vector<int32_t> batch(37);
  for (size_t i = 0; i < batch.size(); ++i) batch[i] = int32_t(100 + 37 * i);
  engine::Request r;
  r.prompt_tokens = batch;  // a chunk of 32 rows, then one of 5
  r.max_tokens = 40;
  r.ignore_eos = true;
  r.sampling.temp = 0;
  CountingSink sink;
  auto run = [&] {
    ASSERT_TRUE((*e)->submit(1, r).ok());
    while ((*e)->step(sink)) {
    }
  };
  run();  // first use: pages the weights in
  const int threads_before = thread_count();
  ASSERT_TRUE((*e)->submit(2, r).ok());
  test::AllocScope scope;
  while ((*e)->step(sink)) {
  }
  EXPECT_EQ(scope.count(), 0) << "heap allocations in batched and single-token evaluation";
  EXPECT_EQ(thread_count(), threads_before) << "threads created during evaluation";
  EXPECT_EQ(sink.errors, 0);
}

// Speculative decoding allocates nothing either: 4 slots of a real target drafting with
// the n-gram drafter and a real draft model (4 tokens a step, verified with the sampling
// rule), requests submitted while others run; the plan holds the drafter's regions to the
// byte.
TEST(NoAllocation, SpeculativeDecodingOverFourSequences) {
  std::string target = test::model_path("llama2xs-vocab512.gguf"), draft = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(target);
  AIRT_REQUIRE_FILE(draft);
  auto m = model::Model::load(target);
  auto dm = model::Model::load(draft);
  ASSERT_TRUE(m.ok() && dm.ok());
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok());
  engine::EngineConfig c;
  c.n_slots = 4;
  c.n_ctx = 256;
  c.prefill_chunk = 16;
  c.n_threads = 2;
  c.kernels = hal::kernels_best().value();
  c.drafters = {*engine::DraftSpec::parse("ngram"), *engine::DraftSpec::parse(draft)};
  c.drafters[1].model = dm->get();
  c.draft_max = 4;
  c.draft_auto = false;
  auto plan = engine::Engine::plan(**m, c);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  auto e = engine::Engine::create(**m, **tok, c);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(align_up((*e)->arena().used(), Arena::kDefaultAlign), plan->arena_bytes());
  const char* prompts[6] = {"Once upon a time", "The cat sat", "Lily and Ben", "One day, a big", "Tom had", "She said"};
  auto request = [&](int i) {
    engine::Request r;
    r.prompt = prompts[i];
    r.max_tokens = 60;
    r.ignore_eos = true;
    r.sampling.temp = 0.9f;
    r.sampling.seed = uint64_t(i + 1);
    return r;
  };
  CountingSink sink;
  int submitted = 0;
  test::AllocScope scope;
  for (; submitted < 4; ++submitted) ASSERT_TRUE((*e)->submit(engine::Ticket(submitted + 1), request(submitted)).ok());
  while ((*e)->step(sink) || submitted < 6) {
    while (submitted < 6 && (*e)->free_slots() > 0) {
      ASSERT_TRUE((*e)->submit(engine::Ticket(submitted + 1), request(submitted)).ok());
      ++submitted;
    }
  }
  EXPECT_EQ(scope.count(), 0) << "heap allocations while drafting and verifying " << sink.tokens << " tokens";
  EXPECT_EQ(sink.finished, 6);
  EXPECT_EQ(sink.tokens, 360);
  EXPECT_GT((*e)->stats().drafted, 0);
  EXPECT_EQ((*e)->kv().blocks_free(), (*e)->kv().blocks_total()) << "every block back in the pool";
}

}  // namespace
}  // namespace airt
