// `airt run --governor -v`: a real ladder (stories260K at q8_0 and q4_0) under a replayed
// trace that is hot from the start: each event is printed as it happens, the point at
// the end, and the text still comes out.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/test_support.h"

namespace airt {
namespace {

using test::run_airt;

struct Ladder {
  std::string q8, q4, dir;
};

bool make_ladder(Ladder& l) {
  const std::string f32 = test::model_path("stories260K.gguf");
  if (f32.empty()) return false;
  l.dir = test::temp_dir();
  l.q8 = l.dir + "/stories-q8_0.gguf";
  l.q4 = l.dir + "/stories-q4_0.gguf";
  EXPECT_EQ(run_airt({"quantize", f32, l.q8, "q8_0"}).status, 0);
  EXPECT_EQ(run_airt({"quantize", f32, l.q4, "q4_0"}).status, 0);
  return true;
}

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

TEST(GovernorRun, EventsArePrintedAsTheyHappenAndThePointAtTheEnd) {
  Ladder l;
  if (!make_ladder(l)) GTEST_SKIP() << "shared models absent";
  const std::string trace = write(l.dir + "/hot.csv", "t_s,temp_c\n0,95\n60,95\n");
  auto r = run_airt({"run", "-m", l.q8, "--ladder", l.q4, "-p", "Once upon a time", "-n", "32", "--temp", "0",
                "--governor-trace", trace, "-v"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_NE(r.err.find("airt: governor: 4 operating points, starting at q8_0 kv f16"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[hard, shedding]: temp 95.0 C >= hard 90"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("q8_0 -> q4_0"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("airt: governor: ended at q4_0 kv q8_0 after 1 event(s)"), std::string::npos) << r.err;
  // Without -v: only the end.
  auto quiet = run_airt({"run", "-m", l.q8, "--ladder", l.q4, "-p", "Once upon a time", "-n", "8",
                         "--governor-trace", trace});
  ASSERT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("shedding"), std::string::npos) << quiet.err;
  EXPECT_NE(quiet.err.find("airt: governor: ended at q4_0"), std::string::npos) << quiet.err;
}

TEST(GovernorRun, ALatencyProfileIsReadAndAMissingOneNamed) {
  Ladder l;
  if (!make_ladder(l)) GTEST_SKIP() << "shared models absent";
  const std::string trace = write(l.dir + "/cool.csv", "t_s,temp_c\n0,50\n60,50\n");
  auto missing = run_airt({"run", "-m", l.q8, "--ladder", l.q4, "-p", "hi", "-n", "2", "--governor-trace", trace,
                           "--governor-profile", l.dir + "/none.json"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("--governor-profile: "), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("none.json"), std::string::npos) << missing.err;
  const std::string prof = l.dir + "/p.json";
  auto cal = run_airt({"bench", "--calibrate", "-m", l.q8, "--ladder", l.q4, "-o", prof, "--state-dir", l.dir, "-t", "1"});
  ASSERT_EQ(cal.status, 0) << cal.err;
  auto r = run_airt({"run", "-m", l.q8, "--ladder", l.q4, "-p", "hi", "-n", "4", "--governor-trace", trace,
                     "--governor-profile", prof, "-v"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("airt: governor: latency profile " + prof), std::string::npos) << r.err;
}

TEST(GovernorRun, AMissingTraceIsNamed) {
  Ladder l;
  if (!make_ladder(l)) GTEST_SKIP() << "shared models absent";
  auto r = run_airt({"run", "-m", l.q8, "-p", "hi", "-n", "2", "--governor-trace", l.dir + "/none.csv"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("none.csv"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace airt
