// airt bench --compare A.json B.json: two runs side by side (two boards, or before and
// after a change). Rows are matched by their configuration — the test and every sweep
// axis' key — and shown with B/A for t/s; rows only one run has are listed after.
#pragma once

#include <string>
#include <string_view>

#include "runtime/core/result.h"

namespace airt::cli {

// `a` and `b` are reports from -o json (an array) or -o jsonl (an object per line); the
// result is the markdown ratio table. Errors name which report is unreadable and why.
Result<std::string> bench_compare(std::string_view a, std::string_view b);
// argv: the two report files.
int bench_compare_main(int argc, char** argv);

}  // namespace airt::cli
