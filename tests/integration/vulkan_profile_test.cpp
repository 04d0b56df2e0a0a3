// airt bench --profile on the Vulkan backend (lavapipe in CI): the per-op table after the
// rows, the "profile" array of each JSON row, and what a backend without per-op timing
// says. Behaviour only: which ops appear and that the shares add up, never a time.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/service/json_util.h"
#include "tests/support/test_support.h"
#include "tests/support/vulkan_device.h"

namespace airt {
namespace {

test::CommandResult bench(const std::string& path, std::vector<std::string> extra) {
  std::vector<std::string> args = {"bench", "-m", path, "-p", "8", "-n", "4", "-r", "1", "-t", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::run_airt(args);
}

// The "% of step" column of each markdown profile table, summed per table.
std::vector<double> percent_sums(const std::string& out) {
  std::vector<double> sums;
  std::istringstream in(out);
  bool in_table = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| op |", 0) == 0) {
      sums.push_back(0), in_table = true;
      continue;
    }
    if (!in_table || line.rfind("|---", 0) == 0) continue;
    if (line.empty() || line[0] != '|') {
      in_table = false;
      continue;
    }
    const size_t cut = line.rfind('|', line.size() - 2);
    sums.back() += std::atof(line.c_str() + cut + 1);
  }
  return sums;
}

TEST(VulkanProfile, MarkdownTablePerRowWithTheOpsAndSharesSummingTo100) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = bench(path, {"--backend", "vulkan", "--profile"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("profile: pp8 (vulkan)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("profile: tg4 (vulkan)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| op | calls/token | ms/token | % of step |"), std::string::npos) << r.out;
  for (const char* op : {"| matmul f32 |", "| matvec f32 |", "| attention |", "| rms_norm |", "| rope |",
                         "| kv_store |", "| get_rows |", "| add |", "| silu_mul |"})
    EXPECT_NE(r.out.find(op), std::string::npos) << op << "\n" << r.out;
  const std::vector<double> sums = percent_sums(r.out);
  ASSERT_EQ(sums.size(), 2u) << r.out;
  for (double s : sums) EXPECT_NEAR(s, 100.0, 1.0) << r.out;
}

TEST(VulkanProfile, JsonRowsCarryAProfileArrayOnlyWhenAsked) {
  AIRT_REQUIRE_VULKAN();
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  for (bool profile : {true, false}) {
    std::vector<std::string> extra = {"--backend", "vulkan", "-o", "json"};
    if (profile) extra.push_back("--profile");
    auto r = bench(path, extra);
    ASSERT_EQ(r.status, 0) << r.err;
    service::JsonPtr rows = service::json_parse_one(r.out, nullptr);
    ASSERT_TRUE(rows && cJSON_IsArray(rows.get())) << r.out;
    ASSERT_EQ(cJSON_GetArraySize(rows.get()), 2);
    for (cJSON* row = rows->child; row; row = row->next) {
      const cJSON* ops = cJSON_GetObjectItem(row, "profile");
      if (!profile) {
        EXPECT_EQ(ops, nullptr) << r.out;
        continue;
      }
      ASSERT_TRUE(ops && cJSON_IsArray(ops)) << r.out;
      double sum = 0;
      bool attention = false;
      for (const cJSON* op = ops->child; op; op = op->next) {
        sum += cJSON_GetObjectItem(op, "percent")->valuedouble;
        EXPECT_GT(cJSON_GetObjectItem(op, "calls_per_token")->valuedouble, 0);
        attention |= std::string(cJSON_GetObjectItem(op, "op")->valuestring) == "attention";
      }
      EXPECT_NEAR(sum, 100.0, 1.0) << r.out;
      EXPECT_TRUE(attention) << r.out;
    }
  }
}

// The CPU backend has no device timestamps: the rows still come, the reason on stderr.
TEST(VulkanProfile, CpuBackendSaysItHasNoPerOpTiming) {
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = bench(path, {"--backend", "cpu", "--profile"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("--profile: the cpu backend has no per-op device timing"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("| op |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg4"), std::string::npos) << r.out;
}

// info --bandwidth measures each Vulkan device with the copy kernel (a line per device).
TEST(VulkanProfile, InfoBandwidthHasACopyLinePerDevice) {
  AIRT_REQUIRE_VULKAN();
  auto r = test::run_airt({"info", "--bandwidth", "--bw-mib", "32", "-t", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("vulkan 0 bandwidth: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" GB/s copy (read + write, 32 MiB)"), std::string::npos) << r.out;
  auto j = test::run_airt({"info", "--bandwidth", "--bw-mib", "32", "-t", "1", "-o", "json"});
  ASSERT_EQ(j.status, 0) << j.err;
  service::JsonPtr doc = service::json_parse_one(j.out, nullptr);
  ASSERT_TRUE(doc) << j.out;
  const cJSON* devs = cJSON_GetObjectItem(doc.get(), "vulkan");
  ASSERT_TRUE(devs && devs->child) << j.out;
  const cJSON* gbs = cJSON_GetObjectItem(devs->child, "copy_bandwidth_gbs");
  ASSERT_TRUE(gbs && cJSON_IsNumber(gbs)) << j.out;
  EXPECT_GT(gbs->valuedouble, 0);
}

// bench/vulkan-check.sh, the check prepared for a board with a real GPU, run with the small
// model on whatever device there is: every step runs and the summary comes out.
TEST(VulkanProfile, CheckScriptRunsWithASmallModelAndPrintsTheSummary) {
  AIRT_REQUIRE_VULKAN();
  if (test::emulated()) GTEST_SKIP() << "the script starts airt itself; under an emulator that is the wrapper's job";
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  const std::string out = test::temp_dir();
  const std::string cmd = "MODEL='" + path + "' P=16 N=8 REPS=1 THREADS=1 OUT='" + out + "' timeout 240 bash '" +
                          AIRT_SOURCE_DIR "/bench/vulkan-check.sh' '" AIRT_BIN "' 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  const int status = pclose(f);
  ASSERT_EQ(status, 0) << text;
  for (const char* line : {"== airt info --bandwidth", "vulkan 0 bandwidth: ", "== stories260K: per-op profile",
                           "== summary (vulkan device 0: ",
                           "| model | pp16 vulkan t/s | pp16 cpu t/s | tg8 vulkan t/s | tg8 cpu t/s |",
                           "| stories260K | ", "auto (stories260K): "})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  // The summary row has a number in every column (no n/a: each step produced its value).
  const size_t row = text.find("| stories260K | ");
  ASSERT_NE(row, std::string::npos);
  const std::string summary_row = text.substr(row, text.find('\n', row) - row);
  EXPECT_EQ(summary_row.find("n/a"), std::string::npos) << summary_row;
}

}  // namespace
}  // namespace airt
