#include "governor/model/temperature_trend.h"

#include <algorithm>

namespace airt::governor {

TemperatureTrend::TemperatureTrend(double window_s, size_t capacity)
    : window_s_(window_s), t_(std::max<size_t>(capacity, 3)), c_(std::max<size_t>(capacity, 3)) {}

void TemperatureTrend::add(double t_s, double celsius) {
  t_[head_] = t_s;
  c_[head_] = celsius;
  head_ = (head_ + 1) % t_.size();
  count_ = std::min(count_ + 1, t_.size());
}

std::optional<double> TemperatureTrend::latest() const {
  if (count_ == 0) return std::nullopt;
  return c_[(head_ + t_.size() - 1) % t_.size()];
}

std::optional<TemperatureTrend::Fit> TemperatureTrend::fit() const {
  if (count_ < 3) return std::nullopt;
  const size_t cap = t_.size();
  const double t_last = t_[(head_ + cap - 1) % cap];
  double n = 0, st = 0, sc = 0, stt = 0, stc = 0, t_first = t_last;
  for (size_t k = 0; k < count_; ++k) {
    const size_t i = (head_ + cap - 1 - k) % cap;
    const double t = t_[i] - t_last;  // relative times keep the sums well conditioned
    if (-t > window_s_) break;
    n += 1, st += t, sc += c_[i], stt += t * t, stc += t * c_[i];
    t_first = t_[i];
  }
  const double den = n * stt - st * st;
  if (n < 3 || t_last - t_first < 1.0 || den <= 0) return std::nullopt;
  const double slope = (n * stc - st * sc) / den;
  return Fit{(sc - slope * st) / n, slope};  // the intercept at t = t_last (relative 0)
}

std::optional<double> TemperatureTrend::slope() const {
  auto f = fit();
  if (!f) return std::nullopt;
  return f->slope;
}

std::optional<double> TemperatureTrend::predict(double horizon_s) const {
  auto f = fit();
  if (!f) return latest();
  return f->now_c + std::max(0.0, f->slope) * horizon_s;
}

std::optional<double> TemperatureTrend::predict_low(double horizon_s) const {
  auto f = fit();
  if (!f) return latest();
  return std::min(*latest(), f->now_c + std::min(0.0, f->slope) * horizon_s);
}

}  // namespace airt::governor
