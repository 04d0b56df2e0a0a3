// A short-horizon temperature prediction: the least-squares slope of the samples of the
// last window_s seconds, extrapolated, so the governor derates before the soft limit
// rather than after it. A fixed ring of samples; no allocation after construction.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace airt::governor {

class TemperatureTrend {
 public:
  explicit TemperatureTrend(double window_s = 10.0, size_t capacity = 128);

  void add(double t_s, double celsius);  // t_s ascending
  // C per second over the window; nullopt with fewer than 3 samples or under 1 s of them.
  std::optional<double> slope() const;
  // The latest temperature plus slope x horizon; a falling trend does not lower it below
  // the latest (a prediction only ever makes the governor more careful). nullopt: no samples.
  std::optional<double> predict(double horizon_s) const;
  std::optional<double> latest() const;

 private:
  double window_s_;
  std::vector<double> t_, c_;  // ring
  size_t head_ = 0, count_ = 0;
};

}  // namespace airt::governor
