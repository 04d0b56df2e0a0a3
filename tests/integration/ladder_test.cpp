// The quantization ladder as a user meets it: --ladder and --tier on the command line,
// a file that is not a tier refused by naming what differs (down to the tensor), and
// each tier's perplexity measured once and cached beside the model.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "runtime/engine/tier_quality.h"
#include "runtime/gguf/gguf.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

using test::run_airt;

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// stories260K quantized to q8_0 and q4_0 into `dir`: a real three-tier ladder.
bool make_ladder(const std::string& dir, std::string& f32, std::string& q8, std::string& q4) {
  f32 = test::model_path("stories260K.gguf");
  if (f32.empty()) return false;
  q8 = dir + "/stories-q8_0.gguf";
  q4 = dir + "/stories-q4_0.gguf";
  EXPECT_EQ(run_airt({"quantize", f32, q8, "q8_0"}).status, 0);
  EXPECT_EQ(run_airt({"quantize", f32, q4, "q4_0"}).status, 0);
  return true;
}

// A copy of `src` whose tensor `name` keeps half its rows: the same hyperparameters, one
// shape different.
void write_with_short_tensor(const std::string& src, const std::string& name, const std::string& out) {
  auto f = gguf::File::open(src);
  ASSERT_TRUE(f.ok()) << f.error().message;
  gguf::Writer w;
  for (const gguf::KeyValue& kv : (*f)->metadata()) w.set_value(std::string(kv.key), kv.value);
  for (const gguf::TensorInfo& t : (*f)->tensors()) {
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    if (t.name == name) ne[1] /= 2;
    ASSERT_TRUE(w.add_tensor(std::string(t.name), t.type, ne, t.data).ok());
  }
  ASSERT_TRUE(w.write(out).ok());
}

TEST(Ladder, RunStartsOnTheTierNamedAndRefusesOthersByName) {
  std::string dir = test::temp_dir(), f32, q8, q4;
  if (!make_ladder(dir, f32, q8, q4)) GTEST_SKIP() << "shared models absent";
  auto base = run_airt({"run", "-m", q8, "-p", "Once upon a time", "-n", "64", "--temp", "0"});
  ASSERT_EQ(base.status, 0) << base.err;
  // Starting on the first tier (the default) gives what the file alone gives.
  auto first = run_airt({"run", "-m", q8, "--ladder", q4, "-p", "Once upon a time", "-n", "64", "--temp", "0"});
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_EQ(first.out, base.out);
  // --tier by type name, file name or index: the q4_0 file's own output.
  auto alone = run_airt({"run", "-m", q4, "-p", "Once upon a time", "-n", "64", "--temp", "0"});
  ASSERT_NE(alone.out, base.out) << "64 greedy tokens tell q4_0 from q8_0 apart";
  for (const std::string& name : {std::string("q4_0"), std::string("stories-q4_0.gguf"), std::string("2")}) {
    auto r = run_airt({"run", "-m", q8, "--ladder", f32 + "," + q4, "--tier", name, "-p", "Once upon a time", "-n",
                       "64", "--temp", "0"});
    ASSERT_EQ(r.status, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, alone.out) << name;
  }
  auto bad = run_airt({"run", "-m", q8, "--ladder", q4, "--tier", "q5_0", "-p", "hi", "-n", "2"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--tier q5_0: no such tier; the ladder has 0: q8_0 (stories-q8_0.gguf), 1: q4_0"),
            std::string::npos)
      << bad.err;
}

TEST(Ladder, ATierWithAnotherTensorShapeIsRefusedNamingTheTensor) {
  std::string dir = test::temp_dir(), f32, q8, q4;
  if (!make_ladder(dir, f32, q8, q4)) GTEST_SKIP() << "shared models absent";
  std::string odd = dir + "/odd.gguf";
  write_with_short_tensor(q4, "blk.2.attn_q.weight", odd);
  auto r = run_airt({"run", "-m", q8, "--ladder", odd, "-p", "hi", "-n", "2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(odd + " is not a tier of " + q8 + ": tensor 'blk.2.attn_q.weight' has shape 64x32, the "
                       "first file's 64x64"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty());
  // Another model altogether: the first hyperparameter that differs.
  auto other = run_airt({"run", "-m", q8, "--ladder", test::model_path("synth-llama-mid-q4_0.gguf"), "-n", "2"});
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.err.find("is not a tier of"), std::string::npos) << other.err;
}

// Perplexity rows of `airt bench --quality` output: tier -> (perplexity, "cached"/"measured").
std::vector<std::pair<double, std::string>> quality_rows(const std::string& out) {
  std::vector<std::pair<double, std::string>> rows;
  std::regex row(R"(\| (\d+) \| [a-z0-9_]+ \| [^|]+ \| ([0-9.]+) \| \d+ \| (cached|measured) \|)");
  for (std::sregex_iterator it(out.begin(), out.end(), row), end; it != end; ++it) {
    rows.emplace_back(std::stod((*it)[2]), (*it)[3]);
  }
  return rows;
}

TEST(Ladder, QualityIsMeasuredOnceAndCachedUntilTheFileChanges) {
  std::string dir = test::temp_dir(), f32, q8, q4;
  if (!make_ladder(dir, f32, q8, q4)) GTEST_SKIP() << "shared models absent";
  const std::vector<std::string> args = {"bench", "-m", q8, "--ladder", q4, "--quality", "--state-dir", dir + "/state"};
  auto r = run_airt(args);
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = quality_rows(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[0].second, "measured");
  EXPECT_EQ(rows[1].second, "measured");
  // A real model on its kind of text: a plausible perplexity, and q4_0 no better than q8_0
  // by more than noise.
  EXPECT_GT(rows[0].first, 1.0);
  EXPECT_LT(rows[0].first, 100.0);
  EXPECT_GT(rows[1].first, rows[0].first * 0.98);
  EXPECT_TRUE(exists(q8 + ".airt-quality.json"));
  EXPECT_TRUE(exists(q4 + ".airt-quality.json"));

  // The second run reads the cache: the same figures.
  auto again = run_airt(args);
  ASSERT_EQ(again.status, 0) << again.err;
  auto cached = quality_rows(again.out);
  ASSERT_EQ(cached.size(), 2u);
  EXPECT_EQ(cached[0].second, "cached");
  EXPECT_EQ(cached[1].second, "cached");
  EXPECT_NEAR(cached[1].first, rows[1].first, 1e-3);

  // Re-quantizing the q4_0 tier (another type, so another size and time) invalidates its entry only.
  ASSERT_EQ(run_airt({"quantize", f32, q4, "q5_0"}).status, 0);
  auto changed = run_airt(args);
  ASSERT_EQ(changed.status, 0) << changed.err;
  auto now = quality_rows(changed.out);
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].second, "cached");
  EXPECT_EQ(now[1].second, "measured");

  // Another text is another key.
  std::string text = dir + "/text.txt";
  std::ofstream(text) << "The cat sat on the mat. The dog ran in the park. They were happy friends.\n";
  std::vector<std::string> with_text = args;
  with_text.insert(with_text.end(), {"--text", text});
  auto other = run_airt(with_text);
  ASSERT_EQ(other.status, 0) << other.err;
  auto t = quality_rows(other.out);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].second, "measured");
}

// Where the cache cannot go beside the model it goes to the state directory and is read
// from there: a read-only folder (by its mode, so also when the tests run as root), and a
// model name too long for a file name with the suffix.
TEST(Ladder, QualityCacheFallsBackToTheStateDirectory) {
  std::string dir = test::temp_dir(), f32, q8, q4;
  if (!make_ladder(dir, f32, q8, q4)) GTEST_SKIP() << "shared models absent";
  const std::string ro = dir + "/ro", long_name = dir + "/" + std::string(240, 'm') + ".gguf";
  ASSERT_EQ(::mkdir(ro.c_str(), 0755), 0);
  const std::string in_ro = ro + "/stories-q8_0.gguf";
  ASSERT_EQ(::rename(q8.c_str(), in_ro.c_str()), 0);
  ASSERT_EQ(::chmod(ro.c_str(), 0555), 0);
  ASSERT_EQ(::rename(q4.c_str(), long_name.c_str()), 0);
  const std::string state = dir + "/state/airt";
  const std::vector<std::string> args = {"bench", "-m", in_ro, "--ladder", long_name, "--quality", "--state-dir", state};
  auto r = run_airt(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(exists(in_ro + ".airt-quality.json"));
  EXPECT_FALSE(exists(long_name + ".airt-quality.json"));
  EXPECT_TRUE(exists(engine::tier_quality_cache_path(in_ro, state, false)));
  EXPECT_TRUE(exists(engine::tier_quality_cache_path(long_name, state, false)));
  auto again = run_airt(args);
  auto rows = quality_rows(again.out);
  ASSERT_EQ(rows.size(), 2u) << again.out;
  EXPECT_EQ(rows[0].second, "cached");
  EXPECT_EQ(rows[1].second, "cached");
  ::chmod(ro.c_str(), 0755);  // so the temporary folder can be removed
}

TEST(Ladder, QualityCacheKeyFollowsSizeTimeAndText) {
  std::string dir = test::temp_dir();
  std::string f = dir + "/m.gguf";
  std::ofstream(f) << "twelve bytes";
  auto k = engine::tier_quality_key(f, "text");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->size, 12u);
  EXPECT_NE(engine::tier_quality_key(f, "other text")->text_hash, k->text_hash);
  EXPECT_EQ(engine::tier_quality_key(f, "text")->text_hash, k->text_hash);
  EXPECT_EQ(engine::tier_quality_cache_path(f, dir + "/state", true), f + ".airt-quality.json");
  const std::string in_state = engine::tier_quality_cache_path(f, dir + "/state", false);
  EXPECT_EQ(in_state.rfind(dir + "/state/m.gguf-", 0), 0u) << in_state;
  EXPECT_FALSE(engine::tier_quality_key(dir + "/absent.gguf", "text").ok());
}

TEST(Ladder, SwitchLatencyIsReported) {
  std::string dir = test::temp_dir(), f32, q8, q4;
  if (!make_ladder(dir, f32, q8, q4)) GTEST_SKIP() << "shared models absent";
  auto r = run_airt({"bench", "-m", q8, "--ladder", q4, "--switch", "-n", "8"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| q8_0 -> q4_0 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("first token after"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace airt
