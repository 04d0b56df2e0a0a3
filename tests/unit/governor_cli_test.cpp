// airt governor explain on the built binary: decisions printed, errors with the file,
// the line and the column, usage errors with status 2.
#include <gtest/gtest.h>

#include "tests/support/test_support.h"

static const std::string kFixtures = std::string(AIRT_SOURCE_DIR) + "/tests/fixtures";

namespace airt::test {
namespace {

TEST(GovernorCli, ExplainPrintsDecisionsAndASummary) {
  CommandResult r = run_airt({"governor", "explain", "--trace", kFixtures + "/traces/throttle.csv",
                              "--config", kFixtures + "/governor/governor.json", "--profile",
                              kFixtures + "/governor/profile.json", "--every", "3", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("governor: 8 operating points, starting at q8_0"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("> soft 78; q8_0 -> q4_0, tg "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("80 requests, 79 met, 0 missed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("{\"total\":2,\"events\":[{\"t_s\":"), std::string::npos) << r.out;
}

TEST(GovernorCli, TierNamesFromModelFiles) {
  CommandResult r = run_airt({"governor", "explain", "--trace", kFixtures + "/traces/throttle.csv",
                              "-m", "/m/tiny-Q8_0.gguf,/m/tiny-Q4_0.gguf", "--every", "5"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("starting at tiny-Q8_0"), std::string::npos) << r.out;
  CommandResult three = run_airt(
      {"governor", "explain", "--trace", kFixtures + "/traces/throttle.csv", "-m", "a,b,c"});
  EXPECT_EQ(three.status, 2) << "a bad command line";
  EXPECT_NE(three.err.find("-m names 3 files, the configuration has 2 tiers"), std::string::npos)
      << three.err;
}

TEST(GovernorCli, BadTraceAndUsageErrors) {
  const std::string dir = temp_dir();
  const std::string bad = dir + "/bad.csv";
  FILE* f = std::fopen(bad.c_str(), "w");
  std::fputs("t_s,temp_c\n0,50\n1,warm\n", f);
  std::fclose(f);
  CommandResult r = run_airt({"governor", "explain", "--trace", bad});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("bad.csv: line 3, column 2 (temp_c): 'warm' is not a number"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(run_airt({"governor", "explain"}).status, 2);
  EXPECT_EQ(run_airt({"governor"}).status, 2);
  CommandResult help = run_airt({"governor", "explain", "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: airt governor explain --trace T.csv"), std::string::npos);
}

}  // namespace
}  // namespace airt::test
