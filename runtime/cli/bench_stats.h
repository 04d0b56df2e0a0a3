// airt bench's arithmetic on recorded timings, kept free of the engine so it is tested on
// fixed numbers: mean and sample standard deviation, percentiles, inter-token gaps, and
// energy from a sampled power trace.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace airt::cli {

double bench_mean(std::span<const double> v);  // 0 for none
// Sample standard deviation (n - 1 in the denominator, as llama-bench); 0 for fewer than 2.
double bench_stdev(std::span<const double> v);
// The p-th percentile (0..100) by linear interpolation between the closest ranks (numpy's
// default), so p50 of {1, 2, 3, 4} is 2.5; nullopt for no values.
std::optional<double> bench_percentile(std::vector<double> v, double p);

// Gaps between consecutive timestamps (ns) in milliseconds: n - 1 values for n stamps.
void bench_gaps_ms(std::span<const int64_t> stamps_ns, std::vector<double>& out);

// One reading of a power meter: seconds on the run's clock, watts.
struct PowerSample {
  double t_s = 0;
  double watts = 0;
};
// Joules spent in [t0, t1]: the power trace read as straight lines between samples (held
// flat before the first and after the last), integrated exactly. nullopt when there are no
// samples: no meter is never zero energy.
std::optional<double> bench_energy_joules(std::span<const PowerSample> trace, double t0, double t1);

}  // namespace airt::cli
