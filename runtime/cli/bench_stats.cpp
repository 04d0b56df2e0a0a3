#include "runtime/cli/bench_stats.h"

#include <algorithm>
#include <cmath>

namespace airt::cli {

double bench_mean(std::span<const double> v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double bench_stdev(std::span<const double> v) {
  if (v.size() < 2) return 0;
  const double m = bench_mean(v);
  double var = 0;
  for (double x : v) var += (x - m) * (x - m);
  return std::sqrt(var / double(v.size() - 1));
}

std::optional<double> bench_percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - double(lo));
}

void bench_gaps_ms(std::span<const int64_t> stamps_ns, std::vector<double>& out) {
  for (size_t i = 1; i < stamps_ns.size(); ++i) out.push_back(double(stamps_ns[i] - stamps_ns[i - 1]) / 1e6);
}

namespace {

// The trace's power at time t: linear between samples, flat outside them.
double power_at(std::span<const PowerSample> tr, double t) {
  if (t <= tr.front().t_s) return tr.front().watts;
  if (t >= tr.back().t_s) return tr.back().watts;
  auto hi = std::upper_bound(tr.begin(), tr.end(), t, [](double x, const PowerSample& s) { return x < s.t_s; });
  auto lo = hi - 1;
  const double span = hi->t_s - lo->t_s;
  return span > 0 ? lo->watts + (hi->watts - lo->watts) * (t - lo->t_s) / span : hi->watts;
}

}  // namespace

std::optional<double> bench_energy_joules(std::span<const PowerSample> tr, double t0, double t1) {
  if (tr.empty()) return std::nullopt;
  if (t1 <= t0) return 0.0;
  // Trapezoids between t0, every sample strictly inside (t0, t1), and t1: exact for a
  // piecewise-linear trace.
  double joules = 0, t_prev = t0, w_prev = power_at(tr, t0);
  for (const PowerSample& s : tr) {
    if (s.t_s <= t0 || s.t_s >= t1) continue;
    joules += (s.t_s - t_prev) * (s.watts + w_prev) / 2;
    t_prev = s.t_s;
    w_prev = s.watts;
  }
  joules += (t1 - t_prev) * (power_at(tr, t1) + w_prev) / 2;
  return joules;
}

}  // namespace airt::cli
