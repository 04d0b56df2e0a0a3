// Speculative decoding through the engine on a real target/draft pair sharing a
// vocabulary (llama2xs-vocab512 as the target, stories260K as the draft): greedy output
// with speculation is plain greedy output, token for token, for every drafter and every
// draft length; several sequences verify in one pass; sampled output follows the target's
// distribution (a chi-square test at a fixed context that wrong rules fail); a draft
// model with another vocabulary is refused naming the difference. The tier drafter runs
// the target's own q8_0 tier (made with airt quantize).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hal/cpu/kernels.h"
#include "runtime/engine/draft/verify.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "runtime/text/tokenizer.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

struct Pair {
  std::unique_ptr<model::Model> target, draft;
  std::unique_ptr<text::Tokenizer> tok;
};

// The target's weights at q8_0: its lower tier (airt quantize, once per process).
std::string q8_tier(const std::string& target) {
  static const std::string path = [&] {
    std::string out = test::temp_dir() + "/llama2xs-q8_0.gguf";
    auto r = test::run_airt({"quantize", target, out, "q8_0"});
    EXPECT_EQ(r.status, 0) << r.err;
    return out;
  }();
  return path;
}

// The target (with its q8_0 tier) and the draft model, or nothing (the test skips) when
// ../shared is absent.
std::unique_ptr<Pair> load_pair() {
  const std::string t = test::model_path("llama2xs-vocab512.gguf"), d = test::model_path("stories260K.gguf");
  auto p = std::make_unique<Pair>();
  auto tm = model::Model::load(t);
  auto dm = model::Model::load(d);
  if (!tm.ok() || !dm.ok()) return nullptr;
  Status tier = (*tm)->add_tier(q8_tier(t));
  EXPECT_TRUE(tier.ok()) << tier.error().message;
  p->target = std::move(*tm);
  p->draft = std::move(*dm);
  p->tok = std::move(text::Tokenizer::from_gguf(p->target->file()).value());
  return p;
}

#define REQUIRE_PAIR(p)                                                                   \
  auto p = load_pair();                                                                   \
  if (!p) GTEST_SKIP() << "llama2xs-vocab512.gguf / stories260K.gguf not in " << test::models_dir()

engine::EngineConfig config(const Pair& p, const std::string& spec, int32_t k, int32_t n_slots = 1) {
  engine::EngineConfig c;
  c.n_slots = n_slots;
  c.n_ctx = 256;
  c.kernels = hal::kernels_best().value();
  if (!spec.empty()) {
    c.drafters = engine::DraftSpec::parse_chain(spec).value();
    for (auto& d : c.drafters)
      if (d.kind == engine::DraftSpec::Kind::kModel) d.model = p.draft.get();
    c.draft_max = k > 0 ? k : 8;
    c.draft_auto = k <= 0;
  }
  return c;
}

struct Collect : engine::Sink {
  std::map<engine::Ticket, std::vector<int32_t>> tokens;
  std::map<engine::Ticket, std::string> text;
  std::map<engine::Ticket, engine::Finish> done;
  int errors = 0;
  void on_token(engine::Ticket t, int32_t id, std::string_view d) override {
    tokens[t].push_back(id);
    text[t] += d;
  }
  void on_finish(engine::Ticket t, const engine::Finish& f) override {
    done[t] = f;
    text[t] += f.tail;
  }
  void on_error(engine::Ticket, const ErrorInfo&) override { ++errors; }
};

engine::Request greedy(const char* prompt, int32_t n) {
  engine::Request r;
  r.prompt = prompt;
  r.max_tokens = n;
  r.ignore_eos = true;
  r.sampling.temp = 0;
  return r;
}

// Runs the requests (tickets 1..n) to their end on a fresh engine of config c.
Collect run(const Pair& p, const engine::EngineConfig& c, const std::vector<engine::Request>& rs) {
  Collect sink;
  auto e = engine::Engine::create(*p.target, *p.tok, c);
  EXPECT_TRUE(e.ok()) << e.error().message;
  if (!e.ok()) return sink;
  for (size_t i = 0; i < rs.size(); ++i) EXPECT_TRUE((*e)->submit(engine::Ticket(i + 1), rs[i]).ok());
  while ((*e)->step(sink)) {
  }
  EXPECT_EQ((*e)->kv().blocks_free(), (*e)->kv().blocks_total()) << "rejected guesses' blocks went back";
  return sink;
}

class GreedyWithDrafter : public ::testing::TestWithParam<const char*> {};

// 200 greedy tokens with each draft length 1..8 forced, and with the length chosen by
// the engine: the same tokens as without speculation. (Under an emulator or a sanitizer:
// auto, 1, 4 and 8 — the full sweep runs in the native tree.)
TEST_P(GreedyWithDrafter, EqualsPlainGreedyForEveryDraftLength) {
  REQUIRE_PAIR(p);
  const std::vector<engine::Request> rs = {greedy("Once upon a time, there was a little girl", 200)};
  const std::vector<int32_t> want = run(*p, config(*p, "", 0), rs).tokens[1];
  ASSERT_EQ(want.size(), 200u);
  int32_t drafted = 0;
  const std::vector<int32_t> ks = test::thorough() ? std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}
                                                   : std::vector<int32_t>{0, 1, 4, 8};
  for (int32_t k : ks) {
    Collect got = run(*p, config(*p, GetParam(), k), rs);
    EXPECT_EQ(got.tokens[1], want) << GetParam() << " k=" << (k ? std::to_string(k) : "auto");
    drafted += got.done[1].drafted;
    if (k == 4) {
      EXPECT_LT(got.done[1].passes, 200) << "fewer target passes than tokens";
    }
  }
  EXPECT_GT(drafted, 0) << GetParam() << " never drafted";
}

INSTANTIATE_TEST_SUITE_P(Drafters, GreedyWithDrafter,
                         ::testing::Values("ngram", "stories260K.gguf", "tier:q8_0", "self:skip=1",
                                           "self:layers=1,3", "ngram+stories260K.gguf"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// With the draft length chosen by the engine, a drafter is started only where its
// predicted cost pays: stories260K reads ~90% of the bytes the target does, and with the
// prior acceptance of 1/2 no k can win, so it is never run; the target's own q8_0 tier
// reads ~27% of the f32 target's bytes and is tried at once. (Before a drafter was
// measured its time counted as zero, so every drafter ran at least once, a model drafter
// first catching up with the whole prompt.)
TEST(Speculative, AutoStartsOnlyADrafterWhosePriorCostPays) {
  REQUIRE_PAIR(p);
  const std::vector<engine::Request> rs = {greedy("Once upon a time, there was a little girl", 60)};
  const Collect plain = run(*p, config(*p, "", 0), rs);
  const Collect costly = run(*p, config(*p, "stories260K.gguf", 0), rs);
  EXPECT_EQ(costly.tokens.at(1), plain.tokens.at(1));
  EXPECT_EQ(costly.done.at(1).drafted, 0) << "a drafter as costly as the target was started";
  const Collect cheap = run(*p, config(*p, "tier:q8_0", 0), rs);
  EXPECT_EQ(cheap.tokens.at(1), plain.tokens.at(1));
  EXPECT_GT(cheap.done.at(1).drafted, 0) << "a drafter at a quarter of the target's cost was never tried";
}

// Four sequences draft and verify in the same passes (k + 1 rows each); stop strings and
// max_tokens end them mid-draft exactly where plain decoding ends them.
TEST(Speculative, FourSequencesWithStopsEqualPlainGreedy) {
  REQUIRE_PAIR(p);
  std::vector<std::string> stop = {"Lily"};
  std::vector<engine::Request> rs = {greedy("Once upon a time", 120), greedy("The cat sat on", 77),
                                     greedy("Tom and his mom", 150), greedy("One day, a big dog", 33)};
  rs[0].stop = stop;
  rs[2].stop = stop;
  Collect want = run(*p, config(*p, "", 0, 4), rs);
  Collect got = run(*p, config(*p, "ngram+stories260K.gguf", 6, 4), rs);
  for (engine::Ticket t = 1; t <= 4; ++t) {
    EXPECT_EQ(got.tokens[t], want.tokens[t]) << "sequence " << t;
    EXPECT_EQ(got.text[t], want.text[t]) << "sequence " << t;
    EXPECT_EQ(got.done[t].reason, want.done[t].reason) << "sequence " << t;
    EXPECT_GT(got.done[t].drafted, 0) << "sequence " << t;
  }
}

// The target's distribution at one context with the request's sampling parameters.
std::vector<text::Sampler::Candidate> target_distribution(const Pair& p, std::span<const int32_t> ctx,
                                                          const text::SamplerParams& sp) {
  auto e = engine::Engine::create(*p.target, *p.tok, test::scoring_config(256, 64)).value();
  std::vector<float> l = test::engine_logits(*e, ctx);
  const size_t n = size_t(p.target->hparams().n_vocab);
  auto s = text::Sampler::create(int32_t(n), sp).value();
  for (int32_t t : ctx) s->accept(t);
  auto d = s->distribution({l.data() + l.size() - n, n});
  return {d.begin(), d.end()};
}

double chi_square(const std::map<int32_t, int>& counts, const std::vector<text::Sampler::Candidate>& p, int n,
                  int* dof) {
  double chi = 0, ro = 0, re = 0;
  int cells = 0;
  for (const auto& c : p) {
    const double e = c.p * n, o = counts.count(c.id) ? counts.at(c.id) : 0;
    if (e < 5) {
      ro += o, re += e;
      continue;
    }
    chi += (o - e) * (o - e) / e, ++cells;
  }
  if (re > 0) chi += (ro - re) * (ro - re) / re, ++cells;
  *dof = cells - 1;
  return chi;
}
double chi_999(int dof) { return dof * std::pow(1 - 2.0 / (9 * dof) + 3.09 * std::sqrt(2.0 / (9 * dof)), 3); }

// Sampling at temperature 1: the first drafted position of every request is verified at
// the same context (prompt + the token the prompt's pass gave, conditioned on it being
// the likeliest), so the tokens emitted there must follow the target's distribution at
// that context. The same chi-square test rejects the draft-biased rules.
TEST(Speculative, SampledTokensFollowTheTargetDistribution) {
  REQUIRE_PAIR(p);
  text::SamplerParams sp;
  sp.temp = 1.0f, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
  std::vector<int32_t> prompt;
  ASSERT_TRUE(p->tok->encode("Once upon a time, there was a little", true, true, prompt).ok());
  std::vector<int32_t> ctx = prompt;
  auto first = target_distribution(*p, ctx, sp);
  ctx.push_back(first[0].id);  // the likeliest first token: the context the draft is verified at
  const auto want = target_distribution(*p, ctx, sp);
  engine::EngineConfig c = config(*p, "stories260K.gguf", 1);
  c.keep_cache = true;  // the prompt's KV is reused from one request to the next
  auto e = engine::Engine::create(*p->target, *p->tok, c).value();
  std::map<int32_t, int> counts;
  int n = 0, drafted_x = -1;
  for (uint64_t seed = 1; n < 1500 && seed < 20000; ++seed) {
    engine::Request r;
    r.prompt_tokens = prompt;
    r.max_tokens = 3;  // the second token is a verified draft (drafts never outrun max_tokens)
    r.ignore_eos = true;
    r.sampling = sp;
    r.sampling.seed = seed;
    Collect sink;
    ASSERT_TRUE(e->submit(1, r).ok());
    while (e->step(sink)) {
    }
    ASSERT_EQ(sink.tokens[1].size(), 3u);
    ASSERT_EQ(sink.done[1].drafted, 1) << "the second token is a verified draft";
    if (sink.tokens[1][0] != ctx.back()) continue;
    ++counts[sink.tokens[1][1]];
    ++n;
  }
  ASSERT_GE(n, 1000) << "too few requests reached the fixed context";
  int dof = 0;
  const double chi = chi_square(counts, want, n, &dof);
  EXPECT_LT(chi, chi_999(dof)) << "speculative samples do not follow the target's distribution (n=" << n << ")";
  // The draft at that context, and what two wrong rules would have emitted there.
  std::vector<int32_t> g;
  auto de = engine::Engine::create(*p->draft, *p->tok, test::scoring_config(256, 64)).value();
  test::engine_logits(*de, ctx, 1, &g);
  drafted_x = g[0];
  text::Rng rng(7);
  std::map<int32_t, int> match_argmax, resample_p;
  double px = 0;
  for (const auto& cand : want) px = cand.id == drafted_x ? cand.p : px;
  for (int i = 0; i < n; ++i) {
    const int32_t y = engine::draw_from(want, rng);
    ++match_argmax[drafted_x == want[0].id ? drafted_x : y];
    ++resample_p[rng.uniform() < px ? drafted_x : engine::draw_from(want, rng)];
  }
  EXPECT_GT(chi_square(resample_p, want, n, &dof), chi_999(dof)) << "a rejection redrawn from p must fail this test";
  if (drafted_x == want[0].id) {
    EXPECT_GT(chi_square(match_argmax, want, n, &dof), chi_999(dof)) << "argmax matching must fail this test";
  }
}

TEST(Speculative, DraftModelWithAnotherVocabularyIsRefused) {
  const std::string t = test::model_path("llama2xs-vocab512.gguf"), d = test::model_path("synth-llama-mid-q8_0.gguf");
  AIRT_REQUIRE_FILE(t);
  AIRT_REQUIRE_FILE(d);
  auto r = test::run_airt({"run", "-m", t, "-p", "hi", "-n", "4", "--draft", d});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("draft model " + d + ": 32000 tokens, the target has 512"), std::string::npos) << r.err;
  r = test::run_airt({"run", "-m", t, "-p", "hi", "-n", "4", "--draft", "fast"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("expected ngram, tier:NAME"), std::string::npos) << r.err;
  r = test::run_airt({"run", "-m", t, "-p", "hi", "-n", "4", "--draft", "tier:q4_0"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("no tier q4_0"), std::string::npos) << r.err;
}

TEST(Speculative, RunPrintsWhatSpeculationDid) {
  const std::string t = test::model_path("llama2xs-vocab512.gguf"), d = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(t);
  auto r = test::run_airt({"run", "-m", t, "-p", "Once upon a time", "-n", "60", "--temp", "0", "--draft", "ngram",
                           "--draft", d, "--draft-len", "3"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("airt: speculative: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("target passes per token"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model stories260K.gguf: acceptance"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace airt
