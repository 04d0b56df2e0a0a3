// airt bench --plot: the run drawn as a hand-written SVG (no library). Time series, one
// panel each: temperature, CPU frequency, power, tokens/s per repetition, and the
// operating point (which configuration ran when); then t/s per configuration as bars.
// Every panel is a <g id="..."> (temperature, frequency, power, tokens_per_s,
// operating_point, configs) so a reader (or a test) can find a series by name.
#pragma once

#include <string>
#include <vector>

#include "runtime/cli/bench_report.h"
#include "runtime/cli/bench_sampler.h"
#include "runtime/core/result.h"

namespace airt::cli {

std::string bench_svg(const BenchInfo& info, const std::vector<BenchRow>& rows, const std::vector<BoardSample>& samples);
// bench_svg() written to `path`; the error names the file.
Status write_bench_svg(const std::string& path, const BenchInfo& info, const std::vector<BenchRow>& rows,
                       const std::vector<BoardSample>& samples);
// "threads=2 kv=f16 ... pp512": a row's configuration, as the plot and --compare label it.
std::string bench_row_label(const BenchRow& r);

}  // namespace airt::cli
