// packaging/systemd/airt.service passes `systemd-analyze verify` and its offline security
// review reports an exposure of at most 2.5. verify checks that ExecStart's binary exists,
// so it runs against a temporary root holding the real airt binary just built, the
// host's kill and the host's systemd units (the targets the unit depends on).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>

#include "tests/support/test_support.h"

namespace airt::service {
namespace {

namespace fs = std::filesystem;

struct Output {
  int status = -1;
  std::string text;
};

Output run(const std::string& cmd) {
  Output o;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) o.text.append(buf, n);
  int st = pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

std::string unit_path() { return std::string(AIRT_SOURCE_DIR) + "/packaging/systemd/airt.service"; }

class ServiceSystemdUnit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/usr/bin/systemd-analyze")) GTEST_SKIP() << "systemd-analyze not installed";
    root_ = test::temp_dir() + "/root";
    std::error_code ec;
    for (const char* d : {"/usr/bin", "/usr/lib/systemd", "/etc/systemd/system"}) fs::create_directories(root_ + d, ec);
    fs::copy("/usr/lib/systemd/system", root_ + "/usr/lib/systemd/system",
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    ASSERT_FALSE(ec) << "copying the host's units: " << ec.message();
    fs::copy_file(AIRT_BIN, root_ + "/usr/bin/airt", ec);
    ASSERT_FALSE(ec) << AIRT_BIN << ": " << ec.message();
    fs::copy_file("/usr/bin/kill", root_ + "/usr/bin/kill", ec);
    ASSERT_FALSE(ec) << "/usr/bin/kill: " << ec.message();
    fs::create_directory_symlink("usr/bin", root_ + "/bin", ec);
    fs::copy_file(unit_path(), root_ + "/etc/systemd/system/airt.service", ec);
    ASSERT_FALSE(ec) << unit_path() << ": " << ec.message();
  }
  std::string root_;
};

TEST_F(ServiceSystemdUnit, VerifyPasses) {
  Output o = run("systemd-analyze verify --recursive-errors=no --root=" + root_ + " airt.service");
  EXPECT_EQ(o.status, 0) << o.text;
  EXPECT_EQ(o.text, "") << "verify warns about the unit";
}

TEST_F(ServiceSystemdUnit, VerifyCatchesABrokenUnit) {
  // The check above can fail: a unit with a bad value is reported.
  std::string broken = test::read_text(unit_path());
  broken.replace(broken.find("Type=notify"), 11, "Type=notifyy");
  FILE* f = std::fopen((root_ + "/etc/systemd/system/airt.service").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(broken.c_str(), f);
  std::fclose(f);
  Output o = run("systemd-analyze verify --recursive-errors=no --root=" + root_ + " airt.service");
  EXPECT_NE(o.text.find("notifyy"), std::string::npos) << o.text;
}

TEST_F(ServiceSystemdUnit, SecurityExposureAtMost2_5) {
  Output o = run("systemd-analyze security --offline=true --no-pager --root=" + root_ + " airt.service");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(o.text, m, std::regex(R"(Overall exposure level for airt\.service: ([0-9]+\.[0-9]+))")))
      << o.text;
  double exposure = std::stod(m[1]);
  EXPECT_LE(exposure, 2.5) << o.text;
}

TEST_F(ServiceSystemdUnit, NotifyWatchdogAndHardening) {
  std::string unit = test::read_text(unit_path());
  for (const char* line : {"Type=notify\n", "WatchdogSec=", "ExecStart=/usr/bin/airt serve --config /etc/airt/airt.json\n",
                           "ExecReload=/bin/kill -HUP $MAINPID\n", "DynamicUser=yes\n", "StateDirectory=airt\n",
                           "ProtectSystem=strict\n", "NoNewPrivileges=yes\n", "PrivateTmp=yes\n",
                           "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n", "SystemCallFilter=@system-service\n",
                           "MemoryMax="})
    EXPECT_NE(unit.find(line), std::string::npos) << line;
}

}  // namespace
}  // namespace airt::service
