// Command-line parsing shared by every subcommand (airt run ... airt serve): flags with values, checked ranges,
// and errors that name the flag and the accepted range. Start-up code: allocates freely.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace airt {

// Exit statuses every subcommand uses: 1 for a failure at run time, 2 for a bad command line
// or request (what the user asked for).
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;


class Args {
 public:
  Args(const char* command, int argc, char** argv);

  // Each returns true when the current argument matched (and consumed its value).
  // Parse errors are recorded; check ok() after the loop.
  bool flag(const char* name, bool& out);                        // --name
  bool str(const char* name, const char* alias, std::string& out);  // --name VALUE
  bool i32(const char* name, const char* alias, int32_t& out, int64_t lo, int64_t hi);
  bool u64(const char* name, const char* alias, uint64_t& out);
  bool f32(const char* name, const char* alias, float& out, double lo, double hi);

  // Loop driver: while (a.next()) { if (a.str(...)) continue; ... a.unknown(); }
  bool next();
  void unknown();
  bool help() const { return help_; }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(const std::string& message);
  // Prints "airt CMD: error" and a hint to stderr; returns the usage exit status.
  int usage_error() const;

 private:
  bool take(const char* name, const char* alias, std::string& value);
  std::string command_;
  std::vector<std::string> args_;
  size_t pos_ = 0;      // index of the current argument
  size_t next_ = 0;     // index of the next argument to visit
  bool help_ = false;
  std::string error_;
};

}  // namespace airt
