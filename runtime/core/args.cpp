#include "runtime/core/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>


namespace airt {

Args::Args(const char* command, int argc, char** argv) : command_(command) {
  for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
}

bool Args::next() {
  if (!error_.empty() || help_) return false;
  pos_ = next_;
  if (pos_ >= args_.size()) return false;
  next_ = pos_ + 1;
  if (args_[pos_] == "-h" || args_[pos_] == "--help") {
    help_ = true;
    return false;
  }
  return true;
}

void Args::fail(const std::string& message) {
  if (error_.empty()) error_ = message;
}

void Args::unknown() { fail("unknown option '" + args_[pos_] + "'"); }

bool Args::take(const char* name, const char* alias, std::string& value) {
  const std::string& a = args_[pos_];
  if (a != name && !(alias && a == alias)) {
    // --name=value
    std::string prefix = std::string(name) + "=";
    if (a.rfind(prefix, 0) == 0) {
      value = a.substr(prefix.size());
      return true;
    }
    return false;
  }
  if (next_ >= args_.size()) {
    fail(std::string("option ") + name + " needs a value");
    return true;
  }
  value = args_[next_++];
  return true;
}

bool Args::flag(const char* name, bool& out) {
  if (args_[pos_] != name) return false;
  out = true;
  return true;
}

bool Args::str(const char* name, const char* alias, std::string& out) { return take(name, alias, out); }

bool Args::i32(const char* name, const char* alias, int32_t& out, int64_t lo, int64_t hi) {
  std::string v;
  if (!take(name, alias, v)) return false;
  if (!ok()) return true;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo || x > hi) {
    fail(std::string(name) + " '" + v + "': expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
    return true;
  }
  out = int32_t(x);
  return true;
}

bool Args::u64(const char* name, const char* alias, uint64_t& out) {
  std::string v;
  if (!take(name, alias, v)) return false;
  if (!ok()) return true;
  errno = 0;
  char* end = nullptr;
  unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || v[0] == '-') {
    fail(std::string(name) + " '" + v + "': expected a non-negative integer");
    return true;
  }
  out = x;
  return true;
}

bool Args::f32(const char* name, const char* alias, float& out, double lo, double hi) {
  std::string v;
  if (!take(name, alias, v)) return false;
  if (!ok()) return true;
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || errno || !std::isfinite(x) || x < lo || x > hi) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "': expected a number in %g..%g", lo, hi);
    fail(std::string(name) + " '" + v + buf);
    return true;
  }
  out = float(x);
  return true;
}

int Args::usage_error() const {
  std::fprintf(stderr, "airt %s: %s (see 'airt %s --help')\n", command_.c_str(), error_.c_str(), command_.c_str());
  return kExitUsage;
}

}  // namespace airt
