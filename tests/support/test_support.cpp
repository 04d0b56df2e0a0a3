#include "tests/support/test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/core/clock.h"

namespace airt::test {
namespace fs = std::filesystem;

static bool is_dir(const std::string& p) { return !p.empty() && fs::is_directory(p); }

std::string models_dir() {
  if (const char* e = std::getenv("AIRT_TEST_MODELS"); e && is_dir(e)) return e;
  std::string p = std::string(AIRT_SOURCE_DIR) + "/../shared/models";
  return is_dir(p) ? fs::canonical(p).string() : std::string();
}

std::string reference_dir() {
  if (const char* e = std::getenv("AIRT_TEST_REFERENCE"); e && is_dir(e)) return e;
  std::string m = models_dir();
  if (m.empty()) return {};
  std::string p = m + "/../reference";
  return is_dir(p) ? fs::canonical(p).string() : std::string();
}

std::string model_path(const std::string& name) {
  std::string d = models_dir();
  if (d.empty()) return {};
  std::string p = d + "/" + name;
  return fs::exists(p) ? p : std::string();
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<float> read_f32(const std::string& path) {
  std::string s = read_text(path);
  std::vector<float> v(s.size() / sizeof(float));
  std::memcpy(v.data(), s.data(), v.size() * sizeof(float));
  return v;
}

std::vector<std::vector<int32_t>> read_token_lines(const std::string& path) {
  std::vector<std::vector<int32_t>> lines;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    std::vector<int32_t> ids;
    std::istringstream ls(line);
    int64_t id;
    while (ls >> id) ids.push_back(static_cast<int32_t>(id));
    if (!ids.empty()) lines.push_back(std::move(ids));
  }
  return lines;
}

double nmse(const float* a, const float* r, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = double(a[i]) - double(r[i]);
    num += d * d;
    den += double(r[i]) * double(r[i]);
  }
  return den > 0 ? num / den : num;
}

static void drain(int fd, std::string& out) {
  char buf[65536];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) out.append(buf, size_t(n));
}

CommandResult run_airt(const std::vector<std::string>& args, const std::string& input, int timeout_s) {
  CommandResult r;
  int in[2], out[2], err[2];
  if (pipe(in) || pipe(out) || pipe(err)) return r;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(in[1]);
    close(out[0]);
    close(err[0]);
    std::vector<char*> argv;
    std::string bin = AIRT_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  if (input.empty()) close(in[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  int64_t deadline = now_ns() + int64_t(timeout_s) * 1000000000;
  bool out_open = true, err_open = true, in_open = !input.empty();
  while (out_open || err_open) {
    pollfd fds[3];
    int nf = 0;
    if (out_open) fds[nf++] = {out[0], POLLIN, 0};
    if (err_open) fds[nf++] = {err[0], POLLIN, 0};
    if (in_open) fds[nf++] = {in[1], POLLOUT, 0};
    int64_t left_ms = (deadline - now_ns()) / 1000000;
    if (left_ms <= 0) {
      kill(pid, SIGKILL);
      r.err += "\n[test: airt timed out]\n";
      break;
    }
    if (poll(fds, nf, int(left_ms)) < 0 && errno != EINTR) break;
    for (int i = 0; i < nf; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == out[0]) {
        size_t before = r.out.size();
        drain(out[0], r.out);
        if (r.out.size() == before) out_open = false;
      } else if (fds[i].fd == err[0]) {
        size_t before = r.err.size();
        drain(err[0], r.err);
        if (r.err.size() == before) err_open = false;
      } else if (fds[i].fd == in[1]) {
        ssize_t n = write(in[1], input.data() + written, input.size() - written);
        if (n > 0) written += size_t(n);
        if (n < 0 || written == input.size()) {
          close(in[1]);
          in_open = false;
        }
      }
    }
  }
  if (in_open) close(in[1]);
  close(out[0]);
  close(err[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string temp_dir() {
  char tmpl[] = "/tmp/airt-test-XXXXXX";
  char* d = mkdtemp(tmpl);
  static std::vector<std::string> dirs;
  static bool registered = false;
  if (!registered) {
    registered = true;
    std::atexit([] {
      for (auto& p : dirs) {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    });
  }
  dirs.push_back(d ? d : "/tmp");
  return dirs.back();
}

bool emulated() {
  const char* cpu = std::getenv("AIRT_QEMU_CPU");
  return cpu && *cpu;
}

bool thorough() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#endif
#endif
  return !emulated();
}

}  // namespace airt::test
