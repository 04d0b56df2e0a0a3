// `airt bench`: the JSON report's shape, skipping a test with -p 0 / -n 0, and the
// synthetic models of every type it offers (timings are reported, never asserted).
#include <gtest/gtest.h>

#include <cjson/cJSON.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/test_support.h"

namespace airt {
namespace {

using test::run_airt;

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDeleter>;

// The report's objects, checked for the keys every one carries.
Json parse_report(const std::string& out) {
  Json j(cJSON_Parse(out.c_str()));
  EXPECT_TRUE(j && cJSON_IsArray(j.get())) << out;
  if (!j || !cJSON_IsArray(j.get())) return j;
  const cJSON* o = nullptr;
  cJSON_ArrayForEach(o, j.get()) {
    for (const char* key : {"test", "t_s_mean", "t_s_stdev", "n_threads", "model_bytes", "model_type", "isa"}) {
      EXPECT_NE(cJSON_GetObjectItemCaseSensitive(o, key), nullptr) << key << " missing in " << out;
    }
    const cJSON* mean = cJSON_GetObjectItemCaseSensitive(o, "t_s_mean");
    EXPECT_TRUE(cJSON_IsNumber(mean) && mean->valuedouble > 0) << out;
    const cJSON* sd = cJSON_GetObjectItemCaseSensitive(o, "t_s_stdev");
    EXPECT_TRUE(cJSON_IsNumber(sd) && sd->valuedouble >= 0) << out;
  }
  return j;
}

std::string str(const cJSON* o, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : "";
}
double num(const cJSON* o, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

TEST(BenchCli, JsonHasOneObjectPerTest) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  auto r = run_airt({"bench", "-m", m, "-p", "32", "-n", "8", "-r", "2", "-t", "2", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json j = parse_report(r.out);
  ASSERT_TRUE(j);
  ASSERT_EQ(cJSON_GetArraySize(j.get()), 2) << r.out;
  EXPECT_EQ(str(cJSON_GetArrayItem(j.get(), 0), "test"), "pp32");
  EXPECT_EQ(str(cJSON_GetArrayItem(j.get(), 1), "test"), "tg8");
  EXPECT_EQ(num(cJSON_GetArrayItem(j.get(), 0), "n_threads"), 2);
  // The weights' bytes: most of the file, never more.
  const double bytes = num(cJSON_GetArrayItem(j.get(), 0), "model_bytes");
  EXPECT_GT(bytes, 0.5 * double(std::filesystem::file_size(m))) << r.out;
  EXPECT_LE(bytes, double(std::filesystem::file_size(m))) << r.out;
}

// A model path is free text: JSON and CSV reports quote it so they still parse.
TEST(BenchCli, ModelPathIsQuotedInReports) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  const std::string dir = test::temp_dir();
  const std::string odd = dir + "/a \"quoted\", \\odd.gguf";
  std::filesystem::copy_file(m, odd);
  auto j = run_airt({"bench", "-m", odd, "-p", "0", "-n", "2", "-r", "1", "-o", "json"});
  ASSERT_EQ(j.status, 0) << j.err;
  Json report = parse_report(j.out);
  ASSERT_TRUE(report);
  EXPECT_EQ(str(cJSON_GetArrayItem(report.get(), 0), "model"), odd) << j.out;
  auto c = run_airt({"bench", "-m", odd, "-p", "0", "-n", "2", "-r", "1", "-o", "csv"});
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("\n\"" + dir + "/a \"\"quoted\"\", \\odd.gguf\",f32,"), std::string::npos) << c.out;
  std::filesystem::remove(odd);
}

TEST(BenchCli, ZeroSkipsThatTest) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  auto pp = run_airt({"bench", "-m", m, "-p", "16", "-n", "0", "-r", "1", "-o", "json"});
  ASSERT_EQ(pp.status, 0) << pp.err;
  Json a = parse_report(pp.out);
  ASSERT_TRUE(a);
  ASSERT_EQ(cJSON_GetArraySize(a.get()), 1);
  EXPECT_EQ(str(cJSON_GetArrayItem(a.get(), 0), "test"), "pp16");
  auto tg = run_airt({"bench", "-m", m, "-p", "0", "-n", "4", "-r", "1", "-o", "csv"});
  ASSERT_EQ(tg.status, 0) << tg.err;
  EXPECT_EQ(tg.out.find("pp"), std::string::npos) << tg.out;
  EXPECT_NE(tg.out.find(",tg4,"), std::string::npos) << tg.out;
  EXPECT_EQ(run_airt({"bench", "-m", m, "-p", "0", "-n", "0"}).status, 2) << "nothing to measure is a usage error";
}

// Every synthetic type builds a model that loads and runs; K-quants fall back to 32-element
// types for rows that are not whole super-blocks (airt-micro's 64, like smollm2's 576), as
// llama.cpp does. The micro shape keeps this quick under qemu; the writer and loader code
// paths are the ones every shape takes.
TEST(BenchCli, SyntheticModelsOfEveryType) {
  const struct {
    const char* spec;
    const char* type;
  } cases[] = {{"airt-micro:q4_0", "q4_0"}, {"airt-micro:q8_0", "q8_0"}, {"airt-micro:q4_k", "q5_0"},
               {"airt-micro:q6_k", "q8_0"}, {"airt-micro:f16", "f16"},    {"airt-micro:f32", "f32"}};
  for (const auto& c : cases) {
    auto r = run_airt({"bench", "--synthetic", c.spec, "-p", "8", "-n", "2", "-r", "1", "-t", "2", "-o", "json"});
    ASSERT_EQ(r.status, 0) << c.spec << ": " << r.err;
    Json j = parse_report(r.out);
    ASSERT_TRUE(j);
    ASSERT_EQ(cJSON_GetArraySize(j.get()), 2) << r.out;
    EXPECT_EQ(str(cJSON_GetArrayItem(j.get(), 0), "model_type"), c.type) << r.out;
  }
  auto bad = run_airt({"bench", "--synthetic", "airt-micro:q3_k"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("q4_k"), std::string::npos) << "the error lists the types: " << bad.err;
}

// --rows: one object per row count, in order, each step's cost against the 1-row step;
// a list outside 1..512 or malformed is a usage error.
TEST(BenchCli, RowsReportsStepCostPerRowCount) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  auto r = run_airt({"bench", "-m", m, "--rows", "2-3,8", "-r", "1", "-t", "2", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json j(cJSON_Parse(r.out.c_str()));
  ASSERT_TRUE(j && cJSON_IsArray(j.get())) << r.out;
  ASSERT_EQ(cJSON_GetArraySize(j.get()), 3) << r.out;
  const int want[] = {2, 3, 8};
  for (int i = 0; i < 3; ++i) {
    const cJSON* o = cJSON_GetArrayItem(j.get(), i);
    EXPECT_EQ(str(o, "test"), "rows");
    EXPECT_EQ(num(o, "rows"), want[i]) << r.out;
    EXPECT_GT(num(o, "ms_step"), 0) << r.out;
    EXPECT_NEAR(num(o, "ms_row") * want[i], num(o, "ms_step"), 0.01 * want[i]) << r.out;
    EXPECT_GT(num(o, "ratio"), 0) << r.out;
  }
  auto c = run_airt({"bench", "-m", m, "--rows", "1,4", "-r", "1", "-o", "csv"});
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(c.out.find("model,test,n_threads,isa,rows,ms_step,ms_row,ratio\n"), 0u) << c.out;
  EXPECT_NE(c.out.find(",rows,"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find(",1.000\n"), std::string::npos) << "the 1-row step is the unit: " << c.out;
  for (const char* bad : {"0", "4-2", "1,,2", "x", "513"}) {
    auto b = run_airt({"bench", "-m", m, "--rows", bad, "-r", "1"});
    EXPECT_EQ(b.status, 2) << bad;
    EXPECT_NE(b.err.find("--rows"), std::string::npos) << bad << ": " << b.err;
  }
}

}  // namespace
}  // namespace airt
