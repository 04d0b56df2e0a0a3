// airt bench's rows and how they are printed: markdown (llama-bench's layout and column
// names), JSON (an array, one object per row), JSON Lines (one object per line, printed as
// each row finishes) or CSV. Every key is listed in bench_row_fields(); a value a board
// cannot give (no power meter) is null in JSON, empty in CSV and "n/a" in markdown.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cli/bench_profile.h"
#include "runtime/cli/bench_sweep.h"

namespace airt::cli {

struct BenchRow {
  BenchJob job;           // the axis values and the test
  std::vector<double> ts;  // tokens/s of each measured repetition
  double mean = 0, stdev = 0;
  std::optional<double> ttft_ms;  // mean over repetitions
  std::optional<double> itl_p50_ms, itl_p90_ms, itl_p99_ms;  // over every gap of every repetition
  size_t peak_rss_bytes = 0;      // VmHWM during the row (the run so far where it cannot be reset)
  size_t plan_bytes = 0;          // the engine's memory plan
  std::optional<double> watts, joules_per_token;
  std::optional<double> temp_start_c, temp_end_c, mhz_start, mhz_end;
  std::optional<bool> throttled;
  std::optional<double> roofline;  // tg rows with --membw
  double t_start_s = 0, t_end_s = 0;  // on the run's clock
  std::vector<std::pair<double, double>> rep_ends;  // (end second, t/s) per repetition, for --plot
  std::vector<BenchOp> profile;  // --profile: device time per op kind over the measured repetitions
};

// What every row of one run shares.
struct BenchInfo {
  std::string model;  // path, or the synthetic spec
  std::string type;   // main matrix type
  size_t model_bytes = 0;
  size_t model_params = 0;
  std::string backend = "cpu";
  std::string isa;
  std::optional<double> membw_gbps;
};

// A row as (key, JSON value text) pairs in the stable key order; strings already quoted.
std::vector<std::pair<std::string, std::string>> bench_row_fields(const BenchInfo& info, const BenchRow& r);

// ts -> mean and stdev.
void bench_summarize(BenchRow& r);
// `format` is "md", "json", "jsonl" or "csv". A stream format (jsonl) prints the rows as
// they come: print_bench_row() for each, nothing at the end.
bool bench_format_streams(const std::string& format);
void print_bench_row(const std::string& format, const BenchInfo& info, const BenchRow& row);
void print_bench_report(const std::string& format, const BenchInfo& info, const std::vector<BenchRow>& rows);

}  // namespace airt::cli
