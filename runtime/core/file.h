// Whole-file helpers for start-up and tools (they allocate).
#pragma once

#include <string>
#include <string_view>

#include "runtime/core/result.h"

namespace airt {

// Reads the whole file; errors name the path and the reason.
Result<std::string> read_file(const std::string& path);
// Writes `data` to a temporary file beside `path`, fsyncs, renames over `path`: a
// reader sees the old file or the new one, never half of one.
Status write_file_atomic(const std::string& path, std::string_view data);

}  // namespace airt
