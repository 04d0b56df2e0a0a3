// Promise 1: after start-up the token loop performs no heap allocation.
#include <gtest/gtest.h>

#include "runtime/model/context.h"
#include "runtime/model/model.h"
#include "runtime/text/sampler.h"
#include "runtime/text/tokenizer.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

TEST(NoAllocation, TwoHundredGeneratedTokens) {
  std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  model::ContextParams p;
  p.n_ctx = 256;
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

}  // namespace
}  // namespace airt
