#include "governor/model/ewls.h"

#include <cmath>
#include <utility>

namespace airt::governor {

void Ewls3::add(const Vec& x, double y) {
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) r_[i][j] = forget_ * r_[i][j] + x[i] * x[j];
    q_[i] = forget_ * q_[i] + x[i] * y;
  }
  ++n_;
  solve();
}

// (R + ridge I) theta = q + ridge prior, by Gaussian elimination with partial pivoting.
void Ewls3::solve() {
  // The prior fades like an old observation (as a recursive least-squares start does),
  // down to a thousandth: enough to hold directions the data never excites.
  const double ridge = ridge_ * (std::pow(forget_, double(n_)) + 1e-3);
  double a[3][4];
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) a[i][j] = r_[i][j] + (i == j ? ridge : 0.0);
    a[i][3] = q_[i] + ridge * prior_[i];
  }
  for (int c = 0; c < 3; ++c) {
    int p = c;
    for (int r = c + 1; r < 3; ++r) {
      if (std::fabs(a[r][c]) > std::fabs(a[p][c])) p = r;
    }
    if (std::fabs(a[p][c]) < 1e-12) return;  // cannot happen with ridge > 0; keep the last theta
    if (p != c) std::swap(a[p], a[c]);
    for (int r = 0; r < 3; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (int k = c; k < 4; ++k) a[r][k] -= f * a[c][k];
    }
  }
  for (int i = 0; i < 3; ++i) theta_[i] = a[i][3] / a[i][i];
}

}  // namespace airt::governor
