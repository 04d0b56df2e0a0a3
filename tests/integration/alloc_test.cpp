// Promise 1: after start-up the token loop performs no heap allocation.
#include <gtest/gtest.h>

#include <filesystem>

#include "hal/cpu/thread_pool.h"
#include "runtime/model/context.h"
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

// Generates 200 tokens on `pool` (null: one thread) with the best kernels of this CPU
// and counts heap allocations after the first token.
void generate_without_allocation(hal::ThreadPool* pool) {
  std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  model::ContextParams p;
  p.n_ctx = 256;
  p.pool = pool;
  auto ctx = model::Context::create(**m, p);
  ASSERT_TRUE(ctx.ok());
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok());
  text::SamplerParams sp;
  sp.temp = 0.9f;
  sp.top_k = 40;
  sp.top_p = 0.95f;
  sp.min_p = 0.02f;
  sp.repeat_penalty = 1.1f;
  sp.seed = 1234;
  auto sampler = text::Sampler::create((*ctx)->n_vocab(), sp);
  ASSERT_TRUE(sampler.ok());
  std::vector<int32_t> prompt;
  ASSERT_TRUE((*tok)->encode("Once upon a time", true, false, prompt).ok());
  ASSERT_TRUE((*ctx)->eval(prompt).ok());
  char piece[64];
  size_t bytes = 0;
  int64_t after_first = -1;
  test::AllocScope scope;
  for (int i = 0; i < 200; ++i) {
    int32_t id = (*sampler)->sample((*ctx)->logits());
    (*sampler)->accept(id);
    bytes += (*tok)->piece(id, piece, sizeof piece);
    ASSERT_TRUE((*ctx)->eval({&id, 1}).ok());
    if (i == 0) after_first = scope.count();
  }
  EXPECT_GT(bytes, 0u);
  EXPECT_EQ(scope.count() - after_first, 0) << "heap allocations during 199 tokens after the first";
}

TEST(NoAllocation, TwoHundredGeneratedTokens) { generate_without_allocation(nullptr); }

// The threaded path: the pool is created before the loop; running jobs on it must neither
// allocate nor create threads.
TEST(NoAllocation, TwoHundredGeneratedTokensOnTwoThreads) {
  auto pool = hal::ThreadPool::create(2);
  ASSERT_TRUE(pool.ok()) << pool.error().message;
  generate_without_allocation(pool->get());
}

// Quantized weights on two threads: prompt batches (the tiled matrix path, multi-row
// attention) and single tokens (the streaming path) allocate nothing once the context
// exists.
TEST(NoAllocation, QuantizedBatchesAndTokensOnTwoThreads) {
  std::string path = test::model_path("synth-llama-mid-q4_0.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto pool = hal::ThreadPool::create(2);
  ASSERT_TRUE(pool.ok()) << pool.error().message;
  model::ContextParams p;
  p.n_ctx = 128;
  p.n_batch = 32;
  p.pool = pool->get();
  auto ctx = model::Context::create(**m, p);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  std::vector<int32_t> batch(32);
  for (size_t i = 0; i < batch.size(); ++i) batch[i] = int32_t(100 + 37 * i);
  ASSERT_TRUE((*ctx)->eval(batch).ok());  // first use: pages the weights in
  const int threads_before = thread_count();
  test::AllocScope scope;
  ASSERT_TRUE((*ctx)->eval(batch).ok());
  ASSERT_TRUE((*ctx)->eval({batch.data(), 5}).ok());
  for (int i = 0; i < 40; ++i) {
    int32_t id = 200 + i;
    ASSERT_TRUE((*ctx)->eval({&id, 1}).ok());
  }
  EXPECT_EQ(scope.count(), 0) << "heap allocations in batched and single-token evaluation";
  EXPECT_EQ(thread_count(), threads_before) << "threads created during evaluation";
}

}  // namespace
}  // namespace airt
