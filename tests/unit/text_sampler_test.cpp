#include <gtest/gtest.h>

#include <algorithm>
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

// ---- samplers carved from an arena -------------------------------------------------------

// Draws `steps` tokens, accepting each, over a fixed sequence of logits.
std::vector<int32_t> run(Sampler& s, int32_t n_vocab, int steps) {
  std::vector<int32_t> ids;
  for (int i = 0; i < steps; ++i) {
    const int32_t id =
        s.sample(noise_logits(static_cast<size_t>(n_vocab), static_cast<uint32_t>(i % 7 + 1)));
    s.accept(id);
    ids.push_back(id);
  }
  return ids;
}

// The parameter sets the engine may see: greedy, the default chain with a penalty, top-k
// off with min-p only, top-p only, a window longer than what was accepted.
std::vector<SamplerParams> modes() {
  std::vector<SamplerParams> m(5);
  m[0].temp = 0.0f;
  m[1].repeat_penalty = 1.3f, m[1].repeat_last_n = 8, m[1].seed = 7;
  m[2].top_k = 0, m[2].top_p = 1.0f, m[2].repeat_penalty = 1.1f;
  m[3].top_k = 0, m[3].min_p = 0.0f, m[3].temp = 1.5f, m[3].seed = 99;
  m[4].repeat_penalty = 2.0f, m[4].repeat_last_n = 64, m[4].temp = 0.5f;
  return m;
}

TEST(CarvedSampler, ConfigureGivesWhatCreateGives) {
  const int32_t n_vocab = 500;
  auto arena = Arena::reserve(Sampler::arena_bytes(n_vocab, 64));
  ASSERT_TRUE(arena.ok());
  auto carved = Sampler::carve(*arena, n_vocab, 64);
  ASSERT_TRUE(carved.ok()) << carved.error().message;
  Sampler& s = **carved;
  EXPECT_EQ(arena->used(), Sampler::arena_bytes(n_vocab, 64));  // exactly what the plan reserves
  EXPECT_EQ(s.n_vocab(), n_vocab);
  EXPECT_EQ(s.max_repeat_last_n(), 64);
  // One carved sampler reconfigured per request, in any order, matches a fresh one.
  for (int round = 0; round < 2; ++round) {
    for (const SamplerParams& p : modes()) {
      ASSERT_TRUE(s.configure(p).ok());
      EXPECT_EQ(run(s, n_vocab, 100), run(*make(n_vocab, p), n_vocab, 100)) << "seed " << p.seed;
    }
  }
}

TEST(CarvedSampler, SamplesGreedilyUntilConfigured) {
  auto arena = Arena::reserve(Sampler::arena_bytes(100, 0));
  ASSERT_TRUE(arena.ok());
  auto s = Sampler::carve(*arena, 100, 0);
  ASSERT_TRUE(s.ok());
  const auto logits = noise_logits(100, 3);
  EXPECT_EQ((*s)->sample(logits), std::max_element(logits.begin(), logits.end()) - logits.begin());
}

TEST(CarvedSampler, ConfigureChecksLikeCreateAndAgainstTheMaximum) {
  auto arena = Arena::reserve(Sampler::arena_bytes(10, 16));
  ASSERT_TRUE(arena.ok());
  Sampler& s = *Sampler::carve(*arena, 10, 16).value();
  SamplerParams bad[6];
  bad[0].top_p = 0.0f;
  bad[1].min_p = 1.5f;
  bad[2].repeat_penalty = 0.0f;
  bad[3].temp = NAN;
  bad[4].repeat_last_n = -1;
  bad[5].top_p = 2.0f;
  for (const SamplerParams& p : bad) {
    const Status st = s.configure(p);
    ASSERT_FALSE(st.ok());
    auto created = Sampler::create(10, p);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(st.error().message, created.error().message);
    EXPECT_EQ(st.error().code, created.error().code);
  }
  SamplerParams p;
  p.repeat_last_n = 17;  // one more than carved
  const Status st = s.configure(p);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Error::kRequestOutOfRange);
  EXPECT_NE(st.error().message.find("repeat_last_n 17"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("max_repeat_last_n"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("16"), std::string::npos) << st.error().message;
  p.repeat_last_n = 16;
  EXPECT_TRUE(s.configure(p).ok());
  EXPECT_EQ(s.params().repeat_last_n, 16);
}

TEST(CarvedSampler, CarveRefusesBadSizesAndAFullArena) {
  auto arena = Arena::reserve(4096);
  ASSERT_TRUE(arena.ok());
  EXPECT_FALSE(Sampler::carve(*arena, 0, 8).ok());
  EXPECT_FALSE(Sampler::carve(*arena, 10, -1).ok());
  EXPECT_FALSE(Sampler::carve(*arena, 10, Sampler::kMaxRepeatLastN + 1).ok());
  auto full = Sampler::carve(*arena, 32000, 64);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Error::kResourceOutOfMemory);
  EXPECT_NE(full.error().message.find("arena_bytes"), std::string::npos) << full.error().message;
  EXPECT_EQ(arena->used(), 0u);
}

// What the engine does per request: configure a carved sampler, sample and accept.
TEST(CarvedSampler, ConfigureSampleAcceptMakeNoHeapAllocation) {
  const int32_t n_vocab = 32000;
  auto arena = Arena::reserve(Sampler::arena_bytes(n_vocab, 256));
  ASSERT_TRUE(arena.ok());
  Sampler& s = *Sampler::carve(*arena, n_vocab, 256).value();
  const auto ms = modes();
  std::vector<std::vector<float>> logits;
  for (uint32_t i = 0; i < 4; ++i) logits.push_back(noise_logits(n_vocab, i + 1));
  int64_t sum = 0;
  airt::test::AllocScope counter;
  for (int request = 0; request < 20; ++request) {
    ASSERT_TRUE(s.configure(ms[request % ms.size()]).ok());
    for (int step = 0; step < 16; ++step) {
      const int32_t id = s.sample(logits[step % logits.size()]);
      s.accept(id);
      sum += id;
    }
  }
  EXPECT_EQ(counter.count(), 0);
  EXPECT_GT(sum, 0);
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
