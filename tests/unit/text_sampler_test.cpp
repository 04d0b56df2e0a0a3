#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

#include "runtime/text/sampler.h"
#include "runtime/text/tokenizer.h"
#include "tests/support/alloc_counter.h"


namespace airt::text {
namespace {

std::unique_ptr<Sampler> make(int32_t n_vocab, SamplerParams p) {
  auto s = Sampler::create(n_vocab, p);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return std::move(s).value();
}

// Logits whose softmax is exactly the given distribution (up to float rounding).
std::vector<float> logits_of(std::initializer_list<double> probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

// Deterministic pseudo-random logits (a fixed LCG), so tests do not depend on <random>.
std::vector<float> noise_logits(size_t n, uint32_t seed) {
  std::vector<float> l(n);
  uint32_t x = seed;
  for (float& v : l) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<float>(x >> 8) / static_cast<float>(1 << 24) * 8.0f - 4.0f;
  }
  return l;
}

std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<int> h(logits.size(), 0);
  for (int i = 0; i < draws; ++i) h[s.sample(logits)]++;
  return h;
}

TEST(Sampler, GreedyIsArgmax) {
  SamplerParams p;
  p.temp = 0.0f;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const auto logits = noise_logits(1000, seed);
    auto s = make(1000, p);
    const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    EXPECT_EQ(s->sample(logits), best);
  }
}

TEST(Sampler, GreedyTieGoesToLowerId) {
  SamplerParams p;
  p.temp = 0.0f;
  auto s = make(4, p);
  EXPECT_EQ(s->sample(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f}), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplerParams p;
  p.temp = 1.5f;
  p.top_k = 1;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  auto s = make(500, p);
  for (uint32_t seed = 1; seed <= 50; ++seed) {
    const auto logits = noise_logits(500, seed);
    EXPECT_EQ(s->sample(logits), std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
}

TEST(Sampler, FixedSeedIsReproducible) {
  SamplerParams p;
  p.temp = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 1234;
  auto a = make(300, p);
  auto b = make(300, p);
  p.seed = 1235;
  auto c = make(300, p);
  std::vector<int32_t> sa, sb, sc;
  for (uint32_t i = 0; i < 200; ++i) {
    const auto logits = noise_logits(300, i + 7);
    sa.push_back(a->sample(logits));
    sb.push_back(b->sample(logits));
    sc.push_back(c->sample(logits));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);  // another seed, another sequence

  // reset() restarts from the seed.
  a->reset();
  std::vector<int32_t> again;
  for (uint32_t i = 0; i < 200; ++i) again.push_back(a->sample(noise_logits(300, i + 7)));
  EXPECT_EQ(again, sb);
}

TEST(Sampler, RngSequenceIsPinned) {
  // xoshiro256** from splitmix64(0): the same numbers on every platform and build.
  Rng r(0);
  const uint64_t first = r.next();
  Rng again(0);
  EXPECT_EQ(again.next(), first);
  Rng other(1);
  EXPECT_NE(other.next(), first);
  for (int i = 0; i < 1000; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(Sampler, FollowsTheDistribution) {
  SamplerParams p;
  p.temp = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  auto s = make(3, p);
  const auto h = histogram(*s, logits_of({0.7, 0.2, 0.1}), 20000);
  EXPECT_NEAR(h[0] / 20000.0, 0.7, 0.02);
  EXPECT_NEAR(h[1] / 20000.0, 0.2, 0.02);
  EXPECT_NEAR(h[2] / 20000.0, 0.1, 0.02);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  SamplerParams p;
  p.temp = 1.0f;
  p.top_k = 0;
  p.min_p = 0.0f;
  const auto logits = logits_of({0.5, 0.3, 0.15, 0.05});

  p.top_p = 0.7f;  // 0.5 + 0.3 reaches it: ids 0 and 1 only
  auto s = make(4, p);
  auto h = histogram(*s, logits, 4000);
  EXPECT_GT(h[0], 0);
  EXPECT_GT(h[1], 0);
  EXPECT_EQ(h[2], 0);
  EXPECT_EQ(h[3], 0);
  // Renormalised over the two kept: 0.5/0.8 and 0.3/0.8.
  EXPECT_NEAR(h[0] / 4000.0, 0.625, 0.03);

  p.top_p = 0.45f;  // the first token alone reaches it
  s = make(4, p);
  h = histogram(*s, logits, 500);
  EXPECT_EQ(h[0], 500);
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheBest) {
  SamplerParams p;
  p.temp = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.2f;  // floor 0.2 * 0.5 = 0.1: keeps 0.5, 0.3, 0.15; drops 0.05
  auto s = make(4, p);
  const auto h = histogram(*s, logits_of({0.5, 0.3, 0.15, 0.05}), 6000);
  EXPECT_GT(h[2], 0);
  EXPECT_EQ(h[3], 0);

  p.min_p = 0.0f;  // off: the 5% token shows up
  s = make(4, p);
  EXPECT_GT(histogram(*s, logits_of({0.5, 0.3, 0.15, 0.05}), 6000)[3], 0);
}

TEST(Sampler, TopKRestrictsToTheKBest) {
  SamplerParams p;
  p.temp = 5.0f;  // flatten, so every kept token is drawn often
  p.top_k = 3;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  auto s = make(6, p);
  const auto h = histogram(*s, std::vector<float>{0.1f, 0.9f, 0.5f, 0.8f, 0.2f, 0.3f}, 3000);
  EXPECT_GT(h[1], 0);
  EXPECT_GT(h[3], 0);
  EXPECT_GT(h[2], 0);
  EXPECT_EQ(h[0] + h[4] + h[5], 0);
}

TEST(Sampler, LowTemperatureSharpens) {
  SamplerParams p;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.temp = 0.1f;
  auto s = make(3, p);
  const auto h = histogram(*s, logits_of({0.5, 0.3, 0.2}), 2000);
  EXPECT_GT(h[0], 1950);  // 0.5^10 vs 0.3^10: the best token ~99.4%
}

TEST(Sampler, RepetitionPenaltyChangesTheChoice) {
  SamplerParams p;
  p.temp = 0.0f;
  p.repeat_penalty = 1.5f;
  p.repeat_last_n = 4;
  auto s = make(4, p);
  const std::vector<float> positive = {2.0f, 1.9f, 0.0f, -1.0f};
  EXPECT_EQ(s->sample(positive), 0);
  s->accept(0);
  EXPECT_EQ(s->sample(positive), 1);  // 2.0 / 1.5 < 1.9

  const std::vector<float> negative = {-1.0f, -1.2f, -5.0f, -6.0f};
  auto n = make(4, p);
  EXPECT_EQ(n->sample(negative), 0);
  n->accept(0);
  EXPECT_EQ(n->sample(negative), 1);  // -1.0 * 1.5 < -1.2

  // A token repeated in the window is penalised once, not once per occurrence.
  auto r = make(4, p);
  r->accept(0);
  r->accept(0);
  r->accept(0);
  EXPECT_EQ(r->sample(std::vector<float>{3.0f, 1.9f, 0.0f, 0.0f}), 0);  // 3.0/1.5 = 2.0 > 1.9

  // Only the last repeat_last_n accepted tokens count.
  auto w = make(4, p);
  w->accept(0);
  for (int i = 0; i < 4; ++i) w->accept(3);
  EXPECT_EQ(w->sample(positive), 0);
}

TEST(Sampler, RejectsBadParameters) {
  SamplerParams p;
  p.top_p = 0.0f;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  p = {};
  p.min_p = 1.5f;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  p = {};
  p.repeat_penalty = 0.0f;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  p = {};
  p.temp = NAN;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  p = {};
  p.repeat_last_n = -1;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  EXPECT_FALSE(Sampler::create(0, SamplerParams{}).ok());
  auto bad = Sampler::create(10, SamplerParams{.top_p = 2.0f});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("top_p"), std::string::npos);
}

TEST(Sampler, HandlesNonFiniteLogits) {
  SamplerParams p;
  p.top_k = 0;
  auto s = make(4, p);
  const float inf = INFINITY;
  EXPECT_EQ(s->sample(std::vector<float>{-inf, -inf, 1.0f, -inf}), 2);
  EXPECT_EQ(s->sample(std::vector<float>{NAN, -inf, -inf, 0.5f}), 3);
}

// The token loop: sample() and accept() on a 32000-token vocabulary, in every mode, and
// turning the chosen id into bytes, make no heap allocation.
TEST(TokenLoop, MakesNoHeapAllocation) {
  const int32_t n_vocab = 32000;
  std::vector<SamplerParams> modes(4);
  modes[0].temp = 0.0f;                          // greedy
  modes[1].repeat_penalty = 1.1f;                // default chain with top-k 40
  modes[2].top_k = 0, modes[2].top_p = 1.0f;     // full sort, min-p only
  modes[3].top_k = 0, modes[3].min_p = 0.0f;     // full sort, top-p only
  std::vector<std::unique_ptr<Sampler>> samplers;
  for (const auto& m : modes) samplers.push_back(make(n_vocab, m));
  std::vector<std::vector<float>> logits;
  for (uint32_t i = 0; i < 8; ++i) logits.push_back(noise_logits(n_vocab, i + 1));

  VocabSpec spec;
  spec.kind = VocabKind::kSpm;
  spec.add_bos = false;
  for (int i = 0; i < n_vocab; ++i) spec.tokens.push_back("\xE2\x96\x81tok" + std::to_string(i));
  auto tok = Tokenizer::create(std::move(spec));
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  char buf[64];
  size_t bytes = 0;

  {  // the hook does see allocations, so a zero below means something
    airt::test::AllocScope probe;
    std::vector<int32_t> v(16);
    EXPECT_GT(probe.count(), 0);
  }
  airt::test::AllocScope counter;
  for (int step = 0; step < 64; ++step) {
    for (auto& s : samplers) {
      const int32_t id = s->sample(logits[step % logits.size()]);
      s->accept(id);
      bytes += tok.value()->piece(id, buf, sizeof(buf));
      bytes += tok.value()->piece(id).size();
    }
  }
  EXPECT_EQ(counter.count(), 0);
  EXPECT_GT(bytes, 0u);
}

}  // namespace
}  // namespace airt::text
