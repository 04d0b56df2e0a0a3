// Helpers shared by the libFuzzer targets in this folder.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace airt::fuzz {

// An invariant of the code under test: when `ok` is false, prints `what` and traps, so
// libFuzzer records the input as a crash (assert() would vanish under NDEBUG).
void check(bool ok, const char* what);

// Seeds: when AIRT_FUZZ_SEED_OUT names a directory, writes `bytes` there as `name`.
// toolchain/run-fuzzers.sh sets it to the working corpus so inputs that depend on the
// current code (a session file matches one model's fingerprint) are always fresh;
// the files in tests/fuzz/corpus/ were written the same way.
void write_seed(std::string_view name, std::string_view bytes);

// A fresh private directory under $TMPDIR (or /tmp) for files a target needs, e.g. a model.
std::string make_temp_dir(const char* tag);

}  // namespace airt::fuzz
