// A short-horizon temperature prediction: the least-squares slope of the samples of the
// last window_s seconds, extrapolated, so the governor derates before the soft limit
// rather than after it. The same fit forecasts the CPU clock, whose danger is the other
// direction (predict_low). A fixed ring of samples; no allocation after construction.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace airt::governor {

class TemperatureTrend {
 public:
  struct Fit {
    double now_c, slope;  // the line's value at the latest sample, C/s
  };
  explicit TemperatureTrend(double window_s = 10.0, size_t capacity = 128);

  void add(double t_s, double celsius);  // t_s ascending
  // C per second over the window; nullopt with fewer than 3 samples or under 1 s of them.
  std::optional<double> slope() const;
  // The fitted line's value now plus a rising slope x horizon (a falling trend is not
  // extrapolated: cooling is taken when it is measured, not when it is expected). The
  // fit, not the latest sample, so a noisy sensor does not flip the limits; without a
  // fit yet, the latest sample. nullopt: no samples.
  std::optional<double> predict(double horizon_s) const;
  // The mirror image for a value whose fall is the risk (the CPU clock): the fitted line
  // now plus a falling slope x horizon, never above the latest sample (a rising clock is
  // taken when measured). nullopt: no samples.
  std::optional<double> predict_low(double horizon_s) const;
  std::optional<double> latest() const;
  std::optional<Fit> fit() const;

 private:
  double window_s_;
  std::vector<double> t_, c_;  // ring
  size_t head_ = 0, count_ = 0;
};

}  // namespace airt::governor
