// airt bench's rows and how they are printed: markdown (llama-bench's layout), JSON or CSV.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace airt::cli {

struct BenchRow {
  std::string test;  // "pp512", "tg128"
  std::vector<double> ts;
  double mean = 0, stdev = 0;
  int n_slots = 1;  // sequences decoded together; ts is their aggregate
};

// What every row of one run shares.
struct BenchInfo {
  std::string model;  // path, or the synthetic spec
  const char* type;   // main matrix type
  size_t model_bytes;
  int threads;
  const char* isa;
};

// Mean and sample standard deviation of r.ts.
void bench_summarize(BenchRow& r);
// `format` is "md", "json" or "csv".
void print_bench_report(const std::string& format, const BenchInfo& info, const std::vector<BenchRow>& rows);

}  // namespace airt::cli
