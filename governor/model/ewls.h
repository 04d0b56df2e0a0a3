// Exponentially weighted least squares for y = theta . x with three regressors, pulled
// towards a prior: minimises sum_k lambda^k (y_k - theta.x_k)^2 + ridge_n |theta - prior|^2,
// where ridge_n = ridge (lambda^n + 1e-3) fades with the n observations like the data does.
// What is left of it keeps a direction the data never excites (no prefill rows seen yet)
// at its prior instead of leaving the system singular. Fixed size, no allocation.
#pragma once

#include <array>

namespace airt::governor {

class Ewls3 {
 public:
  using Vec = std::array<double, 3>;
  Ewls3() = default;
  Ewls3(Vec prior, double forget = 0.98, double ridge = 1.0)
      : prior_(prior), theta_(prior), forget_(forget), ridge_(ridge) {}

  void add(const Vec& x, double y);
  const Vec& theta() const { return theta_; }
  double predict(const Vec& x) const {
    return theta_[0] * x[0] + theta_[1] * x[1] + theta_[2] * x[2];
  }
  long observations() const { return n_; }
  void set_prior(Vec prior) { prior_ = theta_ = prior; }

 private:
  void solve();

  Vec prior_{}, theta_{};
  double forget_ = 0.98, ridge_ = 1.0;
  double r_[3][3] = {};  // weighted sum of x x^T
  Vec q_{};              // weighted sum of x y
  long n_ = 0;
};

}  // namespace airt::governor
