// `airt bench`: the JSON report's shape, skipping a test with -p 0 / -n 0, the synthetic
// models of every type it offers, a smoke run of every mode (a sweep over every axis,
// every output format, --membw, --plot, --compare) and Ctrl-C keeping the finished rows.
// Timings are reported, never asserted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cjson/cJSON.h>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One sweep over every axis and every test kind, with --membw and --plot: one row per
// combination in llama-bench's order, and what each row carries.
TEST(BenchCli, SmokeSweepOfEveryAxis) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  const std::string svg = test::temp_dir() + "/run.svg";
  auto r = run_airt({"bench", "-m", m, "-p", "16", "-n", "8", "-pg", "16,8", "-r", "1", "-t", "1", "--kv-type",
                     "f16,q8_0", "--slots", "1,2", "-d", "0,16", "--membw", "--membw-mib", "8", "--plot", svg, "-o",
                     "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json j = parse_report(r.out);
  ASSERT_TRUE(j);
  // kv 2 x slots 2 x depth 2; with one slot pp16, tg8 and pp16+tg8, with two only tg8.
  ASSERT_EQ(cJSON_GetArraySize(j.get()), 2 * 2 * (3 + 1)) << r.out;
  const char* order[] = {"pp16", "tg8", "pp16+tg8", "pp16", "tg8", "pp16+tg8", "tg8", "tg8"};
  for (int i = 0; i < 16; ++i) {
    const cJSON* o = cJSON_GetArrayItem(j.get(), i);
    EXPECT_EQ(str(o, "test"), order[i % 8]) << i;
    EXPECT_EQ(str(o, "kv_type"), i < 8 ? "f16" : "q8_0") << i;
    const int k = i % 8;
    EXPECT_EQ(num(o, "n_depth"), (k >= 3 && k <= 5) || k == 7 ? 16 : 0) << i;
    EXPECT_EQ(num(o, "n_slots"), k >= 6 ? 2 : 1) << i;
    EXPECT_GT(num(o, "peak_rss_bytes"), 0) << i;
    EXPECT_GT(num(o, "plan_bytes"), 0) << i;
    EXPECT_GT(num(o, "membw_gbps"), 0) << i;
    const bool tg = str(o, "test") == "tg8";
    EXPECT_EQ(cJSON_IsNumber(cJSON_GetObjectItem(o, "roofline")), tg) << "roofline on tg rows only: " << i;
    EXPECT_EQ(cJSON_IsNumber(cJSON_GetObjectItem(o, "itl_p50_ms")), str(o, "test") != "pp16") << i;
    EXPECT_GT(num(o, "ttft_ms"), 0) << i;
  }
  const std::string plot = read_file(svg);
  for (const char* id : {"temperature", "frequency", "power", "tokens_per_s", "operating_point", "configs"})
    EXPECT_NE(plot.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  EXPECT_NE(plot.rfind("</svg>"), std::string::npos);
}

TEST(BenchCli, EveryOutputFormat) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  const std::vector<std::string> base = {"bench", "-m", m, "-p", "16", "-n", "8", "-r", "1", "-t", "1", "-o"};
  auto with = [&](const char* f) {
    auto a = base;
    a.push_back(f);
    return run_airt(a);
  };
  auto md = with("md");
  ASSERT_EQ(md.status, 0) << md.err;
  EXPECT_NE(md.out.find("| model | size | params | backend |"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| threads |"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| t/s |"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| pp16 |"), std::string::npos) << md.out;
  auto csv = with("csv");
  ASSERT_EQ(csv.status, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("model,model_type,model_bytes,", 0), 0u) << csv.out;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 3) << csv.out;
  auto jsonl = with("jsonl");
  ASSERT_EQ(jsonl.status, 0) << jsonl.err;
  std::istringstream lines(jsonl.out);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    Json o(cJSON_Parse(line.c_str()));
    ASSERT_TRUE(o && cJSON_IsObject(o.get())) << line;
    EXPECT_EQ(str(o.get(), "test"), n == 0 ? "pp16" : "tg8");
  }
  EXPECT_EQ(n, 2);
  EXPECT_EQ(with("xml").status, 2);
  // Bad lists are usage errors that name the flag.
  auto bad = run_airt({"bench", "-m", m, "-t", "1,,2"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("-t"), std::string::npos) << bad.err;
  EXPECT_EQ(run_airt({"bench", "-m", m, "-d", "8", "--window", "4"}).status, 2) << "depth needs the whole context";
}

TEST(BenchCli, CompareTwoRuns) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  const std::string dir = test::temp_dir();
  auto a = run_airt({"bench", "-m", m, "-p", "16", "-n", "8", "-r", "1", "-t", "1", "-o", "json"});
  auto b = run_airt({"bench", "-m", m, "-p", "0", "-n", "8,4", "-r", "1", "-t", "1", "-o", "jsonl"});
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  std::ofstream(dir + "/a.json") << a.out;
  std::ofstream(dir + "/b.jsonl") << b.out;
  auto c = run_airt({"bench", "--compare", dir + "/a.json", dir + "/b.jsonl"});
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("| configuration | A t/s | B t/s | B/A |"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("threads=1 depth=0 tg8 |"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("only in A: tier=0 kv=f16 window=0 slots=1 draft=auto threads=1 depth=0 pp16"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("only in B: tier=0 kv=f16 window=0 slots=1 draft=auto threads=1 depth=0 tg4"), std::string::npos) << c.out;
  EXPECT_EQ(run_airt({"bench", "--compare", dir + "/a.json"}).status, 2);
  EXPECT_EQ(run_airt({"bench", "--compare", dir + "/a.json", dir + "/missing.json"}).status, 2);
}

// Starts airt with stdout on a pipe (returned) and stderr into `err_path`.
pid_t spawn_airt(const std::vector<std::string>& args, int& out_fd, const std::string& err_path) {
  int out[2];
  if (pipe(out) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(err, 2);
    close(out[0]);
    std::string bin = AIRT_BIN;
    std::vector<std::string> copy = args;
    std::vector<char*> argv = {bin.data()};
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  out_fd = out[0];
  return pid;
}

// Reads `fd` until `until` returns true on what came, the pipe closes or `seconds` pass.
std::string read_until(int fd, double seconds, const std::function<bool(const std::string&)>& until) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(seconds * 1000));
  while (!until(got) && std::chrono::steady_clock::now() < end) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  return got;
}

int wait_status(pid_t pid, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(seconds * 1000));
  int st = 0;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// A long sweep stopped by SIGINT after its first row: it stops within a repetition,
// keeps every finished row and says so. Streamed (jsonl) rows show the first row came
// before the signal; a report printed at the end (json) is still whole.
TEST(BenchCli, CtrlCPrintsTheFinishedRows) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  // A row of a thousand repetitions takes a minute under an emulator, and the signal
  // handling it checks holds nothing the architecture changes: the native trees run it.
  if (test::emulated()) GTEST_SKIP() << "signal handling is checked in the native trees";
  const std::string err = test::temp_dir() + "/err.txt";
  const std::vector<std::string> sweep = {"bench", "-m", m, "-p", "16", "-n", "8", "-r", "1000", "-t", "1",
                                          "-d", "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"};
  for (const char* format : {"jsonl", "json"}) {
    std::vector<std::string> args = sweep;
    args.insert(args.end(), {"-o", format});
    int fd = -1;
    const pid_t pid = spawn_airt(args, fd, err);
    ASSERT_GT(pid, 0);
    const bool streams = std::string(format) == "jsonl";
    std::string out;
    if (streams) {
      out = read_until(fd, 240, [](const std::string& s) { return s.find('\n') != std::string::npos; });
      ASSERT_NE(out.find('\n'), std::string::npos) << "no row came: " << read_file(err);
    } else {
      // Long enough for the handler to be in place even under an emulator (a signal
      // before it would kill airt outright); far shorter than the sweep.
      std::this_thread::sleep_for(std::chrono::seconds(3));
    }
    kill(pid, SIGINT);
    out += read_until(fd, 240, [](const std::string&) { return false; });
    close(fd);
    EXPECT_EQ(wait_status(pid, 60), 130) << read_file(err);
    EXPECT_NE(read_file(err).find("interrupted"), std::string::npos) << read_file(err);
    if (streams) {
      std::istringstream lines(out);
      int n = 0;
      for (std::string line; std::getline(lines, line); ++n) {
        Json o(cJSON_Parse(line.c_str()));
        EXPECT_TRUE(o && cJSON_IsObject(o.get())) << line;
      }
      EXPECT_GE(n, 1);
      EXPECT_LT(n, 32) << "the sweep stopped early";
    } else {
      Json j(cJSON_Parse(out.c_str()));
      ASSERT_TRUE(j && cJSON_IsArray(j.get())) << out;
      EXPECT_LT(cJSON_GetArraySize(j.get()), 32) << out;
    }
  }
}

// The ladder tier and the speculative draft length are axes like any other: one row per
// combination, each labelled with its value.
TEST(BenchCli, LadderTierAndDraftLengthAreAxes) {
  std::string m = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(m);
  const std::string q8 = test::temp_dir() + "/stories-q8_0.gguf";
  ASSERT_EQ(run_airt({"quantize", m, q8, "q8_0"}).status, 0);
  auto r = run_airt({"bench", "-m", m, "--ladder", q8, "--ladder-tier", "0,q8_0", "--draft", "ngram", "--draft-len",
                     "0,2", "-p", "0", "-n", "8", "-r", "1", "-t", "1", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json j = parse_report(r.out);
  ASSERT_TRUE(j);
  ASSERT_EQ(cJSON_GetArraySize(j.get()), 4) << r.out;
  const char* tiers[] = {"0", "0", "q8_0", "q8_0"};
  const char* lens[] = {"0", "2", "0", "2"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(str(cJSON_GetArrayItem(j.get(), i), "ladder_tier"), tiers[i]) << r.out;
    EXPECT_EQ(str(cJSON_GetArrayItem(j.get(), i), "draft_len"), lens[i]) << r.out;
  }
  auto bad = run_airt({"bench", "-m", m, "--ladder-tier", "q4_0", "-p", "0", "-n", "4", "-r", "1"});
  EXPECT_EQ(bad.status, 2) << bad.err;
  EXPECT_NE(bad.err.find("no such tier"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace airt
