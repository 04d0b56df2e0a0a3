// The forward pass against the reference implementation's logits and greedy
// continuations (../shared/reference), within the bounds its README gives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "hal/cpu/kernels.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "tests/support/engine_eval.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

struct Case {
  const char* model;   // file in ../shared/models
  const char* ref;     // reference name prefix
  const char* tokens;  // tokens file in ../shared/reference
  double bound;        // NMSE bound
  bool greedy_exact;   // greedy continuation must be identical
};

const Case kCases[] = {
    {"stories260K.gguf", "stories260K", "stories260K.tokens", 1e-6, true},
    {"llama2xs-vocab512.gguf", "llama2xs", "llama2xs.tokens", 1e-6, true},
    {"synth-qwen2-small-f16.gguf", "synth-qwen2-small-f16", "synth-qwen2-small.tokens", 1e-4, false},
    {"synth-llama-mid-q8_0.gguf", "synth-llama-mid-q8_0", "synth-llama-mid.tokens", 2e-3, false},
    {"synth-llama-mid-q4_0.gguf", "synth-llama-mid-q4_0", "synth-llama-mid.tokens", 2e-3, false},
    {"synth-llama-mid-q4_k_m.gguf", "synth-llama-mid-q4_k_m", "synth-llama-mid.tokens", 2e-3, false},
};

class LogitsTest : public ::testing::TestWithParam<Case> {};

std::vector<int32_t> read_ids(const std::string& path) {
  std::vector<int32_t> ids;
  std::istringstream in(test::read_text(path));
  int32_t v;
  while (in >> v) ids.push_back(v);
  return ids;
}

TEST_P(LogitsTest, MatchesReference) {
  const Case& c = GetParam();
  std::string path = test::model_path(c.model);
  AIRT_REQUIRE_FILE(path);
  std::string ref = test::reference_dir();
  AIRT_REQUIRE_FILE(ref);
  auto lines = test::read_token_lines(ref + "/" + c.tokens);
  ASSERT_FALSE(lines.empty());

  auto m = model::Model::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  size_t longest = 0;
  for (auto& l : lines) longest = std::max(longest, l.size());
  engine::EngineConfig p = test::scoring_config(int32_t(longest) + 64, int32_t(longest));
  // With AIRT_CPU_ISA set (the aarch64 test presets set "auto") the forward pass runs on
  // that kernel table, so the fast kernels face the reference too; otherwise generic.
  if (const char* isa = std::getenv("AIRT_CPU_ISA"); isa != nullptr && *isa != '\0') {
    auto k = hal::kernels_best();
    ASSERT_TRUE(k.ok()) << k.error().message;
    p.kernels = *k;
    std::printf("%s: %s kernels\n", c.model, p.kernels->isa);
  }
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  auto e = engine::Engine::create(**m, **tok, p);
  ASSERT_TRUE(e.ok()) << e.error().message;
  const size_t nv = size_t((*m)->hparams().n_vocab);

  for (size_t i = 0; i < lines.size(); ++i) {
    std::string base = ref + "/logits/" + c.ref + "." + std::to_string(i);
    std::vector<float> want = test::read_f32(base + ".logits.f32");
    if (want.empty()) continue;  // the reference covers only some sequences for some models
    const auto& ids = lines[i];
    ASSERT_EQ(want.size(), ids.size() * nv) << base;
    std::vector<int32_t> want_greedy = read_ids(base + ".greedy.txt");
    std::vector<int32_t> greedy;
    std::vector<float> got = test::engine_logits(**e, ids, int32_t(want_greedy.size()), &greedy);
    double err = test::nmse(got.data(), want.data(), want.size());
    EXPECT_LE(err, c.bound) << c.model << " sequence " << i;
    RecordProperty(std::string("nmse_") + std::to_string(i), std::to_string(err));
    std::printf("%s seq %zu: NMSE %.3g (bound %.0e)\n", c.model, i, err, c.bound);

    size_t agree = 0;
    while (agree < greedy.size() && greedy[agree] == want_greedy[agree]) ++agree;
    std::printf("%s seq %zu: greedy agrees for %zu of %zu tokens\n", c.model, i, agree, want_greedy.size());
    if (c.greedy_exact) {
      EXPECT_EQ(greedy, want_greedy) << c.model << " sequence " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Reference, LogitsTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) {
                           std::string n = info.param.ref;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace airt
