// KV cache precision and windows against the f16, full-context forward pass on real
// models: a window as long as the sequence changes nothing; q8_0 K/V stays within NMSE
// 1e-3 and perplexity within 2%; q4_0 is measured and printed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "runtime/text/tokenizer.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

struct Loaded {
  std::unique_ptr<model::Model> m;
  std::unique_ptr<text::Tokenizer> tok;
  std::vector<std::vector<int32_t>> lines;
};

Loaded load(const char* model, const char* tokens) {
  Loaded l;
  std::string path = test::model_path(model);
  std::string ref = test::reference_dir();
  if (path.empty() || ref.empty()) return l;
  auto m = model::Model::load(path);
  EXPECT_TRUE(m.ok()) << m.error().message;
  if (!m.ok()) return l;
  l.m = std::move(*m);
  l.tok = std::move(text::Tokenizer::from_gguf(l.m->file()).value());
  l.lines = test::read_token_lines(ref + "/" + tokens);
  return l;
}

using Params = engine::EngineConfig;  // window, sinks, kv_block, kv_types

// Logits of every position of `ids`, evaluated in chunks of `batch`.
std::vector<float> all_logits(const Loaded& l, const std::vector<int32_t>& ids, Params p, int32_t batch) {
  engine::EngineConfig c = test::scoring_config(int32_t(ids.size()) + 8, batch);
  c.window = p.window;
  c.sinks = p.sinks;
  c.kv_block = p.kv_block;
  c.kv_types = p.kv_types;
  auto e = engine::Engine::create(*l.m, *l.tok, c);
  EXPECT_TRUE(e.ok()) << e.error().message;
  if (!e.ok()) return {};
  return test::engine_logits(**e, ids);
}

TEST(KvWindow, WindowCoveringTheSequenceChangesNothing) {
  Loaded l = load("stories260K.gguf", "stories260K.tokens");
  AIRT_REQUIRE_FILE(test::model_path("stories260K.gguf"));
  for (const auto& ids : l.lines) {
    Params full;
    auto want = all_logits(l, ids, full, 7);
    Params win = full;
    win.window = int32_t(ids.size());
    win.sinks = 4;
    win.kv_block = 8;
    auto got = all_logits(l, ids, win, 7);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(got, want) << "a window of the whole sequence must give identical logits";
  }
}

TEST(KvWindow, ShortWindowSeesOnlySinksAndRecentPositions) {
  Loaded l = load("stories260K.gguf", "stories260K.tokens");
  AIRT_REQUIRE_FILE(test::model_path("stories260K.gguf"));
  const auto& ids = l.lines.back();
  ASSERT_GT(ids.size(), 24u);
  Params p;
  p.window = 8;
  p.sinks = 2;
  p.kv_block = 4;
  auto windowed = all_logits(l, ids, p, 1);
  auto full = all_logits(l, ids, Params{}, 1);
  const size_t nv = size_t(l.m->hparams().n_vocab);
  // Positions 0..7 see everything either way; later ones differ.
  for (size_t i = 0; i < 8 * nv; ++i) ASSERT_EQ(windowed[i], full[i]) << i;
  double e = test::nmse(windowed.data() + 12 * nv, full.data() + 12 * nv, windowed.size() - 12 * nv);
  EXPECT_GT(e, 0.0);
  for (float v : windowed) ASSERT_TRUE(std::isfinite(v));
  // Sinks matter: the same window without them gives other logits.
  p.sinks = 0;
  auto no_sinks = all_logits(l, ids, p, 1);
  EXPECT_NE(no_sinks, windowed);
}

// The governor's window knob between tokens: one prompt token per step, the window
// narrowed at step 10 and widened again at step 20 from the engine's step hook.
struct WindowSwitcher : engine::Sink {
  int64_t steps = 0;
  int64_t rows = 0;
  bool finite = true;
  static void hook(void* ctx, engine::Engine& e, const governor::StepRecord&) {
    auto* self = static_cast<WindowSwitcher*>(ctx);
    ++self->steps;
    if (self->steps == 10) {
      EXPECT_TRUE(e.set_window(6, 1).ok());  // the governor narrows the window...
    }
    if (self->steps == 20) {
      EXPECT_TRUE(e.set_window(0, 0).ok());  // ...and widens it again
    }
  }
  void on_logits(engine::Ticket, int32_t, std::span<const float> row) override {
    ++rows;
    for (float v : row) finite = finite && std::isfinite(v);
  }
  void on_token(engine::Ticket, int32_t, std::string_view) override {}
  void on_finish(engine::Ticket, const engine::Finish&) override {}
  void on_error(engine::Ticket, const ErrorInfo& e) override { ADD_FAILURE() << e.message; }
};

TEST(KvWindow, WindowCanChangeBetweenTokens) {
  Loaded l = load("stories260K.gguf", "stories260K.tokens");
  AIRT_REQUIRE_FILE(test::model_path("stories260K.gguf"));
  const auto& ids = l.lines.back();
  engine::EngineConfig c = test::scoring_config(int32_t(ids.size()), 1);
  c.keep_cache = true;  // the finished sequence stays, to count its positions
  auto e = engine::Engine::create(*l.m, *l.tok, c);
  ASSERT_TRUE(e.ok());
  WindowSwitcher sink;
  (*e)->set_step_hook(&WindowSwitcher::hook, &sink);
  engine::Request r;
  r.prompt_tokens = ids;
  r.prompt_only = true;
  r.logits_all = true;
  ASSERT_TRUE((*e)->submit(1, r).ok());
  while ((*e)->step(sink)) {
  }
  EXPECT_TRUE(sink.finite);
  EXPECT_EQ(sink.rows, int64_t(ids.size()));
  EXPECT_EQ((*e)->kv().seq_pos(0), int32_t(ids.size()));
  EXPECT_EQ((*e)->stats().window, 0);
}

struct Quality {
  double nmse;
  double ppl;
};

// Perplexity of story.txt as the reference computes it (chunks of 128, second half scored).
double perplexity(const Loaded& l, const std::vector<int32_t>& ids, Params p) {
  const int32_t n_ctx = 128;
  engine::EngineConfig c = test::scoring_config(n_ctx, n_ctx);
  c.kv_types = p.kv_types;
  auto e = engine::Engine::create(*l.m, *l.tok, c);
  EXPECT_TRUE(e.ok());
  if (!e.ok()) return 0;
  const size_t nv = size_t(l.m->hparams().n_vocab);
  double nll = 0;
  size_t count = 0;
  for (size_t c0 = 0; c0 + size_t(n_ctx) <= ids.size(); c0 += size_t(n_ctx)) {
    std::vector<int32_t> chunk(ids.begin() + long(c0), ids.begin() + long(c0) + n_ctx);
    chunk[0] = 1;  // BOS
    std::vector<float> logits = test::engine_logits(**e, chunk);
    for (int32_t j = n_ctx / 2; j < n_ctx - 1; ++j) {
      std::span<const float> row(logits.data() + size_t(j) * nv, nv);
      float mx = row[0];
      for (float v : row) mx = std::max(mx, v);
      double sum = 0;
      for (float v : row) sum += std::exp(double(v) - mx);
      nll -= double(row[size_t(chunk[size_t(j) + 1])]) - mx - std::log(sum);
      ++count;
    }
  }
  return std::exp(nll / double(count));
}

// The f16, full-context logits of every reference line: what each KV type is compared with
// (computed once per model, not once per type).
std::vector<std::vector<float>> reference_logits(const Loaded& l) {
  std::vector<std::vector<float>> ref;
  for (const auto& ids : l.lines) ref.push_back(all_logits(l, ids, Params{}, int32_t(ids.size())));
  return ref;
}

// NMSE of the logits with K/V stored as `t` against `ref`, and with `with_ppl` the perplexity
// of `story` (NaN without).
Quality measure(const Loaded& l, const std::vector<std::vector<float>>& ref, const std::vector<int32_t>& story,
                model::KvTypes t, bool with_ppl) {
  double num = 0, den = 0;
  for (size_t k = 0; k < l.lines.size(); ++k) {
    const auto& ids = l.lines[k];
    Params p;
    p.kv_types = t;
    auto got = all_logits(l, ids, p, int32_t(ids.size()));
    EXPECT_EQ(got.size(), ref[k].size());
    for (size_t i = 0; i < ref[k].size() && i < got.size(); ++i) {
      num += (double(got[i]) - ref[k][i]) * (double(got[i]) - ref[k][i]);
      den += double(ref[k][i]) * ref[k][i];
    }
  }
  Params p;
  p.kv_types = t;
  return {num / den, with_ppl ? perplexity(l, story, p) : std::nan("")};
}

class KvPrecision : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(KvPrecision, Q8WithinBoundsQ4Measured) {
  auto [model_name, tokens] = GetParam();
  Loaded l = load(model_name, tokens);
  AIRT_REQUIRE_FILE(test::model_path(model_name));
  auto tok = text::Tokenizer::from_gguf(l.m->file());
  ASSERT_TRUE(tok.ok());
  std::vector<int32_t> story;
  ASSERT_TRUE((*tok)->encode(test::read_text(test::reference_dir() + "/story.txt"), true, false, story).ok());
  const double ppl_f16 = perplexity(l, story, Params{});
  const model::KvTypes q8{hal::DType::kQ8_0, hal::DType::kQ8_0}, q4{hal::DType::kQ4_0, hal::DType::kQ4_0};
  const auto ref = reference_logits(l);
  // Every bound is checked in every tree. The figures only printed (q4_0's perplexity, the
  // mixed k=q8_0,v=q4_0 cache) are left, under an emulator or a sanitizer, to the native
  // release tree that prints them in the same CI run: most of the cost is perplexity.
  const bool full = test::thorough();
  Quality a = measure(l, ref, story, q8, true);
  Quality b = measure(l, ref, story, q4, full);
  std::printf("%s: f16 KV PPL %.4f\n", model_name, ppl_f16);
  std::printf("%s: q8_0 KV NMSE %.3g, PPL %.4f (%+.2f%%)\n", model_name, a.nmse, a.ppl, 100 * (a.ppl / ppl_f16 - 1));
  if (full) {
    Quality c = measure(l, ref, story, {hal::DType::kQ8_0, hal::DType::kQ4_0}, true);
    std::printf("%s: q4_0 KV NMSE %.3g, PPL %.4f (%+.2f%%)\n", model_name, b.nmse, b.ppl, 100 * (b.ppl / ppl_f16 - 1));
    std::printf("%s: k=q8_0,v=q4_0 KV NMSE %.3g, PPL %.4f (%+.2f%%)\n", model_name, c.nmse, c.ppl,
                100 * (c.ppl / ppl_f16 - 1));
    RecordProperty("q4_0_ppl_change", std::to_string(b.ppl / ppl_f16 - 1));
  } else {
    std::printf("%s: q4_0 KV NMSE %.3g (its perplexity and the mixed cache: native release tree)\n", model_name,
                b.nmse);
  }
  RecordProperty("q8_0_nmse", std::to_string(a.nmse));
  RecordProperty("q4_0_nmse", std::to_string(b.nmse));
  EXPECT_LE(a.nmse, 1e-3);
  EXPECT_GT(a.nmse, 0.0);  // the quantized path really ran
  EXPECT_LE(std::fabs(a.ppl / ppl_f16 - 1), 0.02);
  EXPECT_GT(b.nmse, a.nmse);
}

INSTANTIATE_TEST_SUITE_P(Stories, KvPrecision,
                         ::testing::Values(std::make_pair("stories260K.gguf", "stories260K.tokens"),
                                           std::make_pair("llama2xs-vocab512.gguf", "llama2xs.tokens")),
                         [](const auto& info) { return std::string(info.index == 0 ? "stories260K" : "llama2xs"); });

}  // namespace
}  // namespace airt
