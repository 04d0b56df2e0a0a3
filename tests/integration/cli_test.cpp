// The airt program as a user meets it: generation, the eval subcommands, and bad input
// of every kind answered by one line and exit status 2 (usage) or 1 (runtime).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <algorithm>
#include <regex>

#include "runtime/gguf/gguf.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

using test::run_airt;

std::string stories() { return test::model_path("stories260K.gguf"); }

// Bad input: one line on stderr, the right status, never a crash or a hang.
void expect_clean_failure(const test::CommandResult& r, int status, const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(Cli, RunGreedyMatchesReferenceContinuation) {
  std::string m = stories();
  AIRT_REQUIRE_FILE(m);
  std::string ref = test::reference_dir();
  // Reference: 64 greedy tokens after "Once upon a time" (sequence 0).
  std::string want_ids = test::read_text(ref + "/logits/stories260K.0.greedy.txt");
  auto r = run_airt({"run", "-m", m, "-p", "Once upon a time", "-n", "64", "--temp", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  // Detokenize the reference ids with the CLI's own tokenizer path: tokenize the output back.
  EXPECT_FALSE(r.out.empty());
  EXPECT_NE(r.err.find("t/s"), std::string::npos) << "timings go to stderr";
  EXPECT_EQ(r.out.find("airt:"), std::string::npos) << "stdout holds only the generated text";
  auto t = run_airt({"tokenize", "-m", m, "-p", "Once upon a time" + r.out.substr(0, r.out.size() - 1)});
  ASSERT_EQ(t.status, 0) << t.err;
  std::string want = "1 403 407 261 378 " + want_ids.substr(0, want_ids.find('\n'));
  // Re-tokenizing generated text can merge pieces differently; compare the ids as text prefix.
  EXPECT_EQ(t.out.substr(0, 40), want.substr(0, 40));
}

TEST(Cli, RunWithoutPromptStartsFromBos) {
  std::string m = stories();
  AIRT_REQUIRE_FILE(m);
  auto r = run_airt({"run", "-m", m, "-n", "16", "--seed", "7"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  auto again = run_airt({"run", "-m", m, "-n", "16", "--seed", "7"});
  EXPECT_EQ(r.out, again.out) << "a fixed seed reproduces the output";
}

TEST(Cli, TokenizeMatchesReferenceIds) {
  std::string m = stories();
  AIRT_REQUIRE_FILE(m);
  auto r = run_airt({"tokenize", "-m", m, "-p", "Once upon a time"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1 403 407 261 378\n");
  auto nb = run_airt({"tokenize", "-m", m, "-p", "Once upon a time", "--no-bos"});
  EXPECT_EQ(nb.out, "403 407 261 378\n");
}

TEST(Cli, LogitsWritesReferenceFormat) {
  std::string m = stories();
  AIRT_REQUIRE_FILE(m);
  std::string ref = test::reference_dir();
  std::string dir = test::temp_dir();
  auto r = run_airt({"logits", "-m", m, "--tokens-file", ref + "/stories260K.tokens", "--out-prefix", dir + "/s",
                     "--greedy", "64"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (int i = 0; i < 5; ++i) {
    std::string base = "/stories260K." + std::to_string(i);
    auto got = test::read_f32(dir + "/s." + std::to_string(i) + ".logits.f32");
    auto want = test::read_f32(ref + "/logits" + base + ".logits.f32");
    ASSERT_EQ(got.size(), want.size());
    EXPECT_LE(test::nmse(got.data(), want.data(), want.size()), 1e-6);
    EXPECT_EQ(test::read_text(dir + "/s." + std::to_string(i) + ".greedy.txt"),
              test::read_text(ref + "/logits" + base + ".greedy.txt"));
  }
}

TEST(Cli, ChatAnswersEachLineAndKeepsTheConversation) {
  std::string m = stories();
  AIRT_REQUIRE_FILE(m);
  // The stories models carry no chat template: --chat-template supplies one.
  auto r = run_airt({"run", "-m", m, "--chat", "--chat-template", "chatml", "-n", "12", "--temp", "0"},
                    "Hello there\nTell me a story\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << "one reply line per user line: " << r.out;
  auto none = run_airt({"run", "-m", m, "--chat"}, "Hi\n");
  expect_clean_failure(none, 1, "--chat-template NAME");
  auto bogus = run_airt({"run", "-m", m, "--chat", "--chat-template", "bogus"}, "Hi\n");
  expect_clean_failure(bogus, 2, "chat template 'bogus'");
}

double parse_ppl(const std::string& out) {
  std::smatch m;
  std::regex re("PPL = ([0-9.]+)");
  return std::regex_search(out, m, re) ? std::stod(m[1]) : -1;
}

TEST(Cli, PerplexityWithinHalfPercentOfReference) {
  std::string ref = test::reference_dir();
  AIRT_REQUIRE_FILE(ref);
  const struct {
    const char* model;
    double want;
  } cases[] = {{"stories260K.gguf", 3.5463}, {"llama2xs-vocab512.gguf", 6.3320}};
  for (auto& c : cases) {
    std::string m = test::model_path(c.model);
    AIRT_REQUIRE_FILE(m);
    auto r = run_airt({"perplexity", "-m", m, "-f", ref + "/story.txt", "--ctx", "128"});
    ASSERT_EQ(r.status, 0) << r.err;
    double ppl = parse_ppl(r.out);
    std::printf("%s: PPL %.4f (reference %.4f)\n", c.model, ppl, c.want);
    EXPECT_NEAR(ppl, c.want, c.want * 0.005) << c.model;
  }
}

TEST(CliBadInput, UsageErrorsExitTwo) {
  std::string m = stories();
  AIRT_REQUIRE_FILE(m);
  expect_clean_failure(run_airt({}), 2, "usage");
  expect_clean_failure(run_airt({"frobnicate"}), 2, "unknown command 'frobnicate'");
  expect_clean_failure(run_airt({"run"}), 2, "missing -m MODEL");
  expect_clean_failure(run_airt({"run", "-m", m, "--bogus"}), 2, "unknown option '--bogus'");
  expect_clean_failure(run_airt({"run", "-m", m, "-n", "-5"}), 2, "-n-predict '-5'");
  expect_clean_failure(run_airt({"run", "-m", m, "-n"}), 2, "needs a value");
  expect_clean_failure(run_airt({"run", "-m", m, "--ctx", "0"}), 2, "--ctx '0'");
  expect_clean_failure(run_airt({"run", "-m", m, "--temp", "abc"}), 2, "--temp 'abc'");
  expect_clean_failure(run_airt({"run", "-m", m, "--top-p", "1.5"}), 2, "--top-p '1.5'");
  expect_clean_failure(run_airt({"run", "-m", m, "-p", "x", "-f", "y"}), 2, "either -p or -f");
  std::string long_prompt(2000, 'a');
  for (size_t i = 1; i < long_prompt.size(); i += 2) long_prompt[i] = ' ';
  expect_clean_failure(run_airt({"run", "-m", m, "--ctx", "16", "-p", long_prompt}), 2, "longer than the context");
}

TEST(CliBadInput, BadModelFilesExitOne) {
  std::string dir = test::temp_dir();
  expect_clean_failure(run_airt({"run", "-m", dir + "/missing.gguf"}), 1, "missing.gguf");
  expect_clean_failure(run_airt({"run", "-m", dir}), 1, dir);
  std::string empty = dir + "/empty.gguf";
  std::ofstream(empty).close();
  expect_clean_failure(run_airt({"run", "-m", empty}), 1, "empty.gguf");
  std::string text = dir + "/text.gguf";
  std::ofstream(text) << "this is not a model, just some text long enough to have a header";
  expect_clean_failure(run_airt({"run", "-m", text}), 1, "text.gguf");

  std::string m = stories();
  if (!m.empty()) {
    std::string full = test::read_text(m);
    for (size_t cut : {size_t(3), size_t(24), size_t(1000), full.size() / 2, full.size() - 1}) {
      std::string p = dir + "/cut" + std::to_string(cut) + ".gguf";
      std::ofstream(p, std::ios::binary).write(full.data(), long(cut));
      auto r = run_airt({"run", "-m", p, "-n", "4"});
      expect_clean_failure(r, 1, p);
    }
  }
  // A valid GGUF file of an architecture airt does not know.
  gguf::Writer w;
  w.set_string("general.architecture", "gpt9");
  std::string unk = dir + "/gpt9.gguf";
  ASSERT_TRUE(w.write(unk).ok());
  expect_clean_failure(run_airt({"run", "-m", unk}), 1, "architecture 'gpt9' is not supported");
}

}  // namespace
}  // namespace airt
