// airt bench's sweep: list parsing, every axis' check, and the cross product in
// llama-bench's order (axes outermost to innermost in table order, then the tests).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/cli/bench_sweep.h"

namespace airt::cli {
namespace {

// One list per axis: the defaults, with `flag` set to `values`.
std::vector<std::vector<std::string>> lists_with(std::vector<std::pair<std::string, std::vector<std::string>>> set) {
  std::vector<std::vector<std::string>> lists;
  for (const BenchAxis& a : bench_axes()) {
    lists.push_back({a.fallback()});
    for (const auto& [flag, v] : set)
      if (flag == a.flag) lists.back() = v;
  }
  return lists;
}

size_t axis_index(const char* key) {
  const auto axes = bench_axes();
  for (size_t i = 0; i < axes.size(); ++i)
    if (std::string(axes[i].key) == key) return i;
  ADD_FAILURE() << key;
  return 0;
}

TEST(BenchSweep, SplitsCommaLists) {
  EXPECT_EQ(*bench_split_list("-t", "1,2,4"), (std::vector<std::string>{"1", "2", "4"}));
  EXPECT_EQ(*bench_split_list("-t", "8"), (std::vector<std::string>{"8"}));
  // A mixed K/V type keeps its own comma.
  EXPECT_EQ(*bench_split_list("--kv-type", "f16,k=q8_0,v=f16,q4_0"),
            (std::vector<std::string>{"f16", "k=q8_0,v=f16", "q4_0"}));
  auto bad = bench_split_list("-t", "1,,2");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("-t"), std::string::npos) << bad.error().message;
}

TEST(BenchSweep, EveryAxisChecksItsValues) {
  EXPECT_TRUE(bench_check_lists(lists_with({{"--threads", {"1", "2"}}, {"--kv-type", {"f16", "q8_0"}}})).ok());
  for (const auto& [flag, v] : std::vector<std::pair<std::string, std::string>>{
           {"--threads", "0"}, {"--kv-type", "q5_1"}, {"--window", "-1"}, {"--slots", "300"}, {"--n-depth", "x"}}) {
    Status s = bench_check_lists(lists_with({{flag, {v}}}));
    EXPECT_FALSE(s.ok()) << flag << " " << v;
  }
}

TEST(BenchSweep, CrossProductInLlamaBenchOrder) {
  auto lists = lists_with({{"--threads", {"1", "2"}}, {"--kv-type", {"f16", "q8_0"}}, {"--n-depth", {"0", "512"}}});
  const std::vector<BenchTest> tests = {{128, 0}, {0, 32}};
  const std::vector<BenchJob> jobs = bench_expand(lists, tests);
  ASSERT_EQ(jobs.size(), 2u * 2 * 2 * 2);
  const size_t kv = axis_index("kv_type"), th = axis_index("n_threads"), d = axis_index("n_depth");
  // Tests innermost, then depth, then threads, kv outermost.
  EXPECT_EQ(jobs[0].test.name(), "pp128");
  EXPECT_EQ(jobs[1].test.name(), "tg32");
  EXPECT_EQ(jobs[1].values[d], "0");
  EXPECT_EQ(jobs[2].values[d], "512");
  EXPECT_EQ(jobs[4].values[th], "2");
  EXPECT_EQ(jobs[4].values[kv], "f16");
  EXPECT_EQ(jobs[8].values[kv], "q8_0");
  EXPECT_EQ(jobs[8].values[th], "1");
  const BenchSetup s = bench_setup(jobs[15]);
  EXPECT_EQ(s.threads, 2);
  EXPECT_EQ(s.depth, 512);
  EXPECT_EQ(s.kv.k, hal::DType::kQ8_0);
}

// --slots varies tg tests only: pp and pp+tg run on one sequence, once per combination.
TEST(BenchSweep, SlotsVaryOnlyDecodeTests) {
  auto lists = lists_with({{"--slots", {"1", "4"}}});
  const std::vector<BenchJob> jobs = bench_expand(lists, {{16, 0}, {0, 8}, {16, 8}});
  ASSERT_EQ(jobs.size(), 4u);
  const size_t sl = axis_index("n_slots");
  EXPECT_EQ(jobs[0].test.name(), "pp16");
  EXPECT_EQ(jobs[1].test.name(), "tg8");
  EXPECT_EQ(jobs[2].test.name(), "pp16+tg8");
  EXPECT_EQ(jobs[3].test.name(), "tg8");
  EXPECT_EQ(jobs[3].values[sl], "4");
  // With only --slots 4, pp still runs (on one sequence, and says so).
  const std::vector<BenchJob> four = bench_expand(lists_with({{"--slots", {"4"}}}), {{16, 0}, {0, 8}});
  ASSERT_EQ(four.size(), 2u);
  EXPECT_EQ(four[0].values[sl], "1");
  EXPECT_EQ(four[1].values[sl], "4");
}

TEST(BenchSweep, TestNames) {
  EXPECT_EQ((BenchTest{512, 0}).name(), "pp512");
  EXPECT_EQ((BenchTest{0, 128}).name(), "tg128");
  EXPECT_EQ((BenchTest{512, 128}).name(), "pp512+tg128");
}

}  // namespace
}  // namespace airt::cli
