// Speculative decoding's pure parts: the lossless acceptance rule (a chi-square test that
// the emitted token follows the target's distribution, and that plausible wrong rules fail
// the same test), the draft-length model, the n-gram drafter and the --draft forms.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "runtime/engine/draft/draft_length.h"
#include "runtime/engine/draft/drafter.h"
#include "runtime/engine/draft/ngram_drafter.h"
#include "runtime/engine/draft/verify.h"

namespace airt::engine {
namespace {

using Dist = std::vector<text::Sampler::Candidate>;

Dist dist(std::initializer_list<std::pair<int32_t, float>> v) {
  Dist d;
  for (auto [id, p] : v) d.push_back({0.0f, p, id});
  return d;
}

// Pearson's chi-square of counts against probabilities (cells with expectation < 5 merged).
double chi_square(const std::map<int32_t, int>& counts, const Dist& p, int n, int* dof) {
  double chi = 0, rest_obs = 0, rest_exp = 0;
  int cells = 0;
  for (const auto& c : p) {
    const double e = c.p * n;
    const double o = counts.count(c.id) ? counts.at(c.id) : 0;
    if (e < 5) {
      rest_obs += o, rest_exp += e;
      continue;
    }
    chi += (o - e) * (o - e) / e;
    ++cells;
  }
  if (rest_exp > 0) chi += (rest_obs - rest_exp) * (rest_obs - rest_exp) / rest_exp, ++cells;
  *dof = cells - 1;
  return chi;
}

// The 99.9% quantile of chi-square with `dof` degrees of freedom (Wilson-Hilferty).
double chi_square_999(int dof) {
  const double z = 3.09, k = dof;
  return k * std::pow(1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k)), 3);
}

enum class Rule { kLossless, kMatchArgmax, kResampleFromP, kAlwaysAccept };

// The token a verify step emits for draft x under `rule`.
int32_t emitted(Rule rule, const Dist& p, int32_t x, std::span<const float> q, text::Rng& rng) {
  switch (rule) {
    case Rule::kLossless: return verify_draft(p, x, q, rng).token;
    case Rule::kMatchArgmax: return x == p[0].id ? x : p[0].id;  // greedy matching while sampling
    case Rule::kResampleFromP: {  // the right acceptance, but a rejection redraws from p itself
      double px = 0;
      for (auto& c : p) px = c.id == x ? c.p : px;
      const double qx = q.empty() ? 1.0 : q[size_t(x)];
      return rng.uniform() * qx < px ? x : draw_from(p, rng);
    }
    case Rule::kAlwaysAccept: return x;
  }
  return x;
}

double chi_of(Rule rule, const Dist& p, int32_t x, std::span<const float> q, int n, int* dof) {
  text::Rng rng(1234);
  std::map<int32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[emitted(rule, p, x, q, rng)];
  return chi_square(counts, p, n, dof);
}

TEST(VerifyDraft, DeterministicDraftKeepsTheTargetDistribution) {
  const Dist p = dist({{3, 0.5f}, {7, 0.3f}, {1, 0.15f}, {9, 0.05f}});
  for (int32_t x : {3, 7, 9, 42}) {  // the likeliest, a middling, an unlikely and an impossible draft
    int dof = 0;
    const double chi = chi_of(Rule::kLossless, p, x, {}, 20000, &dof);
    EXPECT_LT(chi, chi_square_999(dof)) << "draft " << x;
  }
}

TEST(VerifyDraft, SampledDraftKeepsTheTargetDistribution) {
  const Dist p = dist({{0, 0.1f}, {1, 0.4f}, {2, 0.3f}, {3, 0.2f}});
  const std::vector<float> q = {0.5f, 0.1f, 0.3f, 0.1f};  // the drafter's own distribution
  text::Rng rng(99);
  std::map<int32_t, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    // x drawn from q, as a sampling drafter would.
    const double r = rng.uniform();
    int32_t x = r < 0.5 ? 0 : r < 0.6 ? 1 : r < 0.9 ? 2 : 3;
    ++counts[verify_draft(p, x, q, rng).token];
  }
  int dof = 0;
  const double chi = chi_square(counts, p, n, &dof);
  EXPECT_LT(chi, chi_square_999(dof));
}

TEST(VerifyDraft, WrongRulesFailTheSameTest) {
  const Dist p = dist({{3, 0.5f}, {7, 0.3f}, {1, 0.15f}, {9, 0.05f}});
  for (Rule r : {Rule::kMatchArgmax, Rule::kResampleFromP, Rule::kAlwaysAccept}) {
    int dof = 0;
    const double chi = chi_of(r, p, 7, {}, 20000, &dof);
    EXPECT_GT(chi, chi_square_999(dof)) << "rule " << int(r) << " passed a test it must fail";
  }
}

TEST(VerifyDraft, GreedyKeepsExactlyTheArgmax) {
  const Dist p = dist({{5, 1.0f}});
  text::Rng rng(1);
  EXPECT_TRUE(verify_draft(p, 5, {}, rng).accepted);
  Verdict v = verify_draft(p, 4, {}, rng);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.token, 5);
}

DraftLength carved(Arena& arena, int32_t rows) {
  DraftLength d;
  EXPECT_TRUE(d.carve(arena, rows).ok());
  return d;
}

TEST(DraftLengthModel, DraftsWhenWideRowsAreCheapAndGuessesHold) {
  auto arena = Arena::reserve(2 * DraftLength::arena_bytes(64), false);
  ASSERT_TRUE(arena.ok());
  DraftLength d = carved(*arena, 64);
  EXPECT_EQ(d.choose(0, 1, 8), 0) << "nothing measured yet: plain decoding first";
  for (int r = 1; r <= 9; ++r) d.step(r, 10.0 + 0.5 * (r - 1));  // a 9-row pass costs 1.4x a 1-row pass
  for (int i = 0; i < 50; ++i) d.verified(0, 8, 7);              // ~88% of guesses kept
  const int32_t k = d.choose(0, 1, 8);
  EXPECT_GE(k, 4);
  EXPECT_LE(k, 8);
}

TEST(DraftLengthModel, SwitchesItselfOffWhereDraftingDoesNotPay) {
  auto arena = Arena::reserve(2 * DraftLength::arena_bytes(64), false);
  ASSERT_TRUE(arena.ok());
  DraftLength d = carved(*arena, 64);
  for (int r = 1; r <= 9; ++r) d.step(r, 10.0 * r);  // a row costs as much as a pass: no gain possible
  for (int i = 0; i < 50; ++i) d.verified(0, 4, 3);
  EXPECT_EQ(d.choose(0, 1, 8), 0);
  // Cheap rows but a drafter as slow as the target and guesses that rarely hold.
  DraftLength e = carved(*arena, 64);
  for (int r = 1; r <= 9; ++r) e.step(r, 10.0 + 0.1 * r);
  e.drafted(0, 4, 40.0);
  for (int i = 0; i < 50; ++i) e.verified(0, 4, 0);
  std::vector<int> probes;
  for (int i = 1; i <= 7 * DraftLength::kProbeEvery; ++i)
    if (e.choose(0, 1, 8) > 0) probes.push_back(i);
  const int p = DraftLength::kProbeEvery;
  EXPECT_EQ(probes, (std::vector<int>{p, 3 * p, 7 * p})) << "off, tried again after 1, 2, 4 x " << p << " rounds";
}

// An untried model drafter is priced by its share of the target's weight bytes, and a
// first draft after a long prompt by its catch-up spread over the tokens still wanted.
TEST(DraftLengthModel, AnUntriedDrafterIsPricedByItsShareAndItsCatchUp) {
  auto arena = Arena::reserve(2 * DraftLength::arena_bytes(64), false);
  ASSERT_TRUE(arena.ok());
  DraftLength d = carved(*arena, 64);
  for (int r = 1; r <= 9; ++r) d.step(r, 10.0 + 0.5 * (r - 1));
  d.set_share(0, 0.55);  // a q4_0 tier drafting for a q8_0 target
  EXPECT_NEAR(d.draft_ms(0), 5.5, 1e-9);
  EXPECT_EQ(d.choose(0, 1, 8), 0) << "at half the target's cost and acceptance 1/2 no k pays";
  d.set_share(1, 0.2);  // a small draft model
  EXPECT_GT(d.choose(1, 1, 8), 0);
  // The same drafter facing a 256-token catch-up for a request of 8 more tokens: 256 rows
  // at 20% of a wide pass cost more than 8 tokens can win back.
  EXPECT_GT(d.catch_up_ms(1, 256), 0);
  EXPECT_EQ(d.choose(1, 1, 8, 256, 8), 0);
  EXPECT_GT(d.choose(1, 1, 8, 256, 4096), 0) << "over a long request the catch-up pays";
  d.caught_up(1, 257, 257 * 0.01);  // measured: much cheaper than the prior
  EXPECT_NEAR(d.catch_up_ms(1, 100), 1.0, 1e-9);
}

// A probe of a drafter that is off costs its catch-up: it waits until that is within 3% of
// the plain decoding since, instead of every kProbeEvery rounds.
TEST(DraftLengthModel, AProbeCostsAtMostThreePercentOfThePlainTimeBeforeIt) {
  auto arena = Arena::reserve(2 * DraftLength::arena_bytes(64), false);
  ASSERT_TRUE(arena.ok());
  DraftLength d = carved(*arena, 64);
  for (int r = 1; r <= 9; ++r) d.step(r, 10.0 + 0.5 * (r - 1));
  d.set_share(0, 0.5);
  int first = 0;
  for (int i = 1; i <= 20 * DraftLength::kProbeEvery && !first; ++i)
    if (d.choose(0, 1, 8, 256, 4096) > 0) first = i;
  ASSERT_GT(first, 0) << "never probed";
  EXPECT_GT(first, DraftLength::kProbeEvery) << "the catch-up makes this probe worth waiting for";
  const double probe = d.catch_up_ms(0, 256) + d.draft_ms(0) + (d.cost(2) - d.cost(1));
  EXPECT_LE(probe, DraftLength::kMargin * first * d.cost(1) * 1.0001);
  EXPECT_GT(probe, DraftLength::kMargin * (first - 1) * d.cost(1));
}

TEST(DraftLengthModel, CostsBetweenAndBeyondMeasuredRows) {
  auto arena = Arena::reserve(2 * DraftLength::arena_bytes(64), false);
  ASSERT_TRUE(arena.ok());
  DraftLength d = carved(*arena, 64);
  d.step(1, 10);
  d.step(5, 14);
  EXPECT_NEAR(d.cost(3), 12, 1e-9);
  EXPECT_NEAR(d.cost(9), 18, 1e-9) << "beyond the last measured count: the measured slope";
  d.reset_costs();
  EXPECT_EQ(d.cost(3), 0);
}

TEST(NgramDrafter, ProposesWhatFollowedTheLatestEarlierOccurrence) {
  NgramDrafter g;
  std::vector<int32_t> h = {1, 2, 3, 4, 5, 9, 2, 3, 4, 6, 7, 8, 2, 3, 4};
  int32_t out[3] = {};
  auto n = g.draft(0, h, out);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 3);
  EXPECT_EQ(out[0], 6) << "the latest match of 2 3 4 is followed by 6 7 8";
  EXPECT_EQ(out[1], 7);
  EXPECT_EQ(out[2], 8);
  std::vector<int32_t> none = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(*g.draft(0, none, out), 0);
}

TEST(DraftSpecs, ParseEveryFormAndNameTheAcceptedOnes) {
  EXPECT_EQ(DraftSpec::parse("ngram")->kind, DraftSpec::Kind::kNgram);
  EXPECT_EQ(DraftSpec::parse("tier:q4_0")->tier, "q4_0");
  EXPECT_EQ(DraftSpec::parse("self:skip=2")->skip, 2);
  EXPECT_EQ(DraftSpec::parse("self:layers=1,3")->layers, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(DraftSpec::parse("models/small.gguf")->kind, DraftSpec::Kind::kModel);
  auto chain = DraftSpec::parse_chain("ngram+tier:q4_0");
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->size(), 2u);
  for (const char* bad : {"", "tier:", "self:skip=0", "self:layers=1,", "fast"}) {
    auto r = DraftSpec::parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(DraftSpec::parse("fast").error().message.find("ngram, tier:NAME"), std::string::npos);
}

}  // namespace
}  // namespace airt::engine
