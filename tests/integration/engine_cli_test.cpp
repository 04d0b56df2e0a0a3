// The CLI side of the memory plan, the budget, sessions, KV options and bench --slots.
#include <gtest/gtest.h>

#include <unistd.h>

#include "tests/support/test_support.h"

namespace airt {
namespace {

using test::run_airt;

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TEST(EngineCli, PlanPrintsEveryRegionAndFits) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  auto r = run_airt({"plan", "-m", m, "--ctx", "256", "--slots", "4", "--kv-type", "q8_0"});
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* region : {"weights (mapped)", "weights (resident copies)", "kv pool", "activations", "logits",
                             "slots", "step tables", "samplers", "tokenizer workspace", "thread scratch", "total arena", "fits"})
    EXPECT_TRUE(has(r.out, region)) << region << "\n" << r.out;
  EXPECT_TRUE(has(r.out, "q8_0, 340 B/position")) << r.out;
  // A draft model adds its own regions.
  std::string d = test::model_path("llama2xs-vocab512.gguf");
  r = run_airt({"plan", "-m", m, "--draft", d, "--slots", "2"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "draft kv pool")) << r.out;
  EXPECT_TRUE(has(r.out, "draft weights (mapped)")) << r.out;
}

// The line of a printed plan that starts with `name`.
std::string plan_line(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return "";
  size_t end = text.find('\n', at + 1);
  return text.substr(at + 1, end - at - 1);
}

// `airt plan` prints exactly the plan `airt run` carves: one plan, one engine.
TEST(EngineCli, PlanAgreesWithRunToTheByte) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  for (std::vector<std::string> extra : {std::vector<std::string>{}, {"--kv-type", "q8_0", "--window", "64", "--sinks", "4"}}) {
    std::vector<std::string> plan_args = {"plan", "-m", m, "--ctx", "256", "-t", "2"};
    std::vector<std::string> run_args = {"run", "-m", m, "--ctx", "256", "-t", "2", "-n", "2", "--print-plan"};
    plan_args.insert(plan_args.end(), extra.begin(), extra.end());
    run_args.insert(run_args.end(), extra.begin(), extra.end());
    auto p = run_airt(plan_args);
    auto r = run_airt(run_args);
    ASSERT_EQ(p.status, 0) << p.err;
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* region : {"kv pool", "kv tables", "activations", "logits", "slots", "step tables",
                               "step records", "total arena", "total mapped"}) {
      std::string a = plan_line("\n" + p.out, region), b = plan_line("\n" + r.err, region);
      EXPECT_FALSE(a.empty()) << region << "\n" << p.out;
      EXPECT_EQ(a, b) << region;
    }
  }
}

TEST(EngineCli, OverBudgetRefusesBeforeAllocating) {
  std::string m = test::model_path("synth-llama-mid-q4_0.gguf");
  AIRT_REQUIRE_FILE(m);
  auto r = run_airt({"plan", "-m", m, "--ctx", "4096", "--slots", "8", "--mem-budget", "40"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(has(r.err, "over the budget of 40.00 MiB")) << r.err;
  EXPECT_TRUE(has(r.err, "largest regions: kv pool")) << r.err;
  EXPECT_TRUE(has(r.err, "--ctx ")) << r.err;
  EXPECT_TRUE(has(r.err, " fits")) << r.err;
  // A plan of terabytes: reserving it would fail with another message, so this refusal
  // proves nothing was reserved first.
  r = run_airt({"run", "-m", m, "--ctx", "1048576", "-p", "hello", "-n", "4", "--mem-budget", "64"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(has(r.err, "over the budget")) << r.err;
  EXPECT_TRUE(has(r.err, "kv cache")) << r.err;
  EXPECT_TRUE(has(r.err, "nothing was allocated")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  r = run_airt({"plan", "-m", m, "--ctx", "1048576", "--slots", "4096", "--mem-budget", "1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.err, "weights alone")) << r.err;
  // The default budget comes from the machine and a small plan fits it.
  r = run_airt({"run", "-m", test::model_path("stories260K.gguf"), "-n", "4", "--seed", "1"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(EngineCli, KvOptionsAreChecked) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  auto r = run_airt({"run", "-m", m, "--kv-type", "q5_1", "-n", "2"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r.err, "--kv-type")) << r.err;
  r = run_airt({"run", "-m", m, "--kv-type", "k=q8_0,v=q4_0", "--window", "32", "--sinks", "4", "-n", "80", "--ctx",
                "64", "-p", "Once upon a time", "--temp", "0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(has(r.err, "stops at the context end")) << "a window lets generation run past --ctx";
}

TEST(EngineCli, SessionResumesAcrossRuns) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  std::string file = test::temp_dir() + "/story.airtsession";
  auto whole = run_airt({"run", "-m", m, "-p", "Once upon a time", "-n", "48", "--temp", "0"});
  ASSERT_EQ(whole.status, 0) << whole.err;
  auto a = run_airt({"run", "-m", m, "-p", "Once upon a time", "-n", "24", "--temp", "0", "--session", file});
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(access(file.c_str(), F_OK), 0);
  auto b = run_airt({"run", "-m", m, "-n", "24", "--temp", "0", "--session", file});
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_TRUE(has(b.err, "resumed")) << b.err;
  auto strip = [](std::string s) { return s.substr(0, s.size() - 1); };  // the final newline
  EXPECT_EQ(strip(a.out) + strip(b.out), strip(whole.out));
  // Another KV type is refused with the fix.
  auto c = run_airt({"run", "-m", m, "-n", "4", "--kv-type", "q8_0", "--session", file});
  EXPECT_EQ(c.status, 2) << c.err;
  EXPECT_TRUE(has(c.err, "--kv-type f16")) << c.err;
}

TEST(EngineCli, BenchSlotsReportsAggregateRows) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  auto r = run_airt({"bench", "-m", m, "-p", "0", "-n", "16", "-r", "1", "--slots", "1,3", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "\"n_slots\": 1")) << r.out;
  EXPECT_TRUE(has(r.out, "\"n_slots\": 3")) << r.out;
  EXPECT_TRUE(has(r.out, "\"test\": \"tg16\"")) << r.out;
  EXPECT_EQ(run_airt({"bench", "-m", m, "--slots", "0,x"}).status, 2);
}

}  // namespace
}  // namespace airt
