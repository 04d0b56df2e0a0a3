// airt bench --rows: the cost of one forward step against the number of rows it
// evaluates (1..64), to show where the matrix kernels stop streaming the weights once
// per step. Each row count is timed as one prompt step of that many tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cli/common.h"

namespace airt::cli {

// "1,2,4", "1-64" or a mix ("1-8,16,32") -> the row counts in order; empty when the text
// is malformed or a count is outside 1..kBenchRowsMax.
constexpr int32_t kBenchRowsMax = 512;
std::vector<int32_t> parse_bench_rows(const std::string& text);

// Loads the model of `mo` with room for the largest row count, times `reps` steps of each
// row count (after one warm-up step), and prints ms per step (median), ms per row and the
// ratio to the 1-row step (measured too when the list lacks it) as md, json or csv.
// `model_name` is what the report calls the model. Returns the exit status.
int bench_rows_main(ModelOptions mo, const std::string& rows_arg, int32_t reps, const std::string& format,
                    const std::string& model_name);

}  // namespace airt::cli
