// Helpers shared by the test suite: where the shared models are, reading reference
// files, running the airt binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace airt::test {

// ../shared/models (or $AIRT_TEST_MODELS); empty when absent.
std::string models_dir();
// ../shared/reference (or $AIRT_TEST_REFERENCE, else models_dir()/../reference); empty when absent.
std::string reference_dir();
// Full path of a model file, or empty when the shared folder or the file is missing.
std::string model_path(const std::string& name);

// Skips the current test with a message when the shared test data is absent.
#define AIRT_REQUIRE_FILE(path)                                                   \
  do {                                                                            \
    if ((path).empty()) GTEST_SKIP() << "shared test data not found (set AIRT_TEST_MODELS or place ../shared beside the repository)"; \
  } while (0)

std::string read_text(const std::string& path);
std::vector<float> read_f32(const std::string& path);
std::vector<std::vector<int32_t>> read_token_lines(const std::string& path);

// Normalised mean squared error: sum((a-r)^2) / sum(r^2).
double nmse(const float* a, const float* r, size_t n);

struct CommandResult {
  int status = -1;  // exit status, or 128+signal
  std::string out;
  std::string err;
};
// Runs the airt binary with `args` (each one argument, no shell), with stdin from
// `input` and a time limit so a hang fails the test instead of stalling the suite.
CommandResult run_airt(const std::vector<std::string>& args, const std::string& input = "",
                       int timeout_s = 120);

// A fresh temporary directory, removed at exit.
std::string temp_dir();

// False in the trees that run about ten times slower — under an emulator (the aarch64
// presets set AIRT_QEMU_CPU) or a sanitizer — where a test keeps the cases that reach
// different code (each drafter, the edges of a range) and leaves the full sweep of a
// parameter to the native release tree, which runs it in the same CI run.
bool thorough();
// True under an emulator.
bool emulated();

}  // namespace airt::test
