#include "runtime/engine/draft/verify.h"

#include <algorithm>

namespace airt::engine {

int32_t draw_from(std::span<const text::Sampler::Candidate> p, text::Rng& rng) {
  if (p.size() == 1) return p[0].id;
  const double r = rng.uniform();
  double cum = 0.0;
  for (const auto& c : p) {
    cum += c.p;
    if (r < cum) return c.id;
  }
  return p.back().id;  // rounding left r at the very top
}

Verdict verify_draft(std::span<const text::Sampler::Candidate> p, int32_t x, std::span<const float> q, text::Rng& rng) {
  double px = 0.0;
  for (const auto& c : p)
    if (c.id == x) px = c.p;
  const double qx = q.empty() ? 1.0 : double(q[size_t(x)]);
  // A decided distribution (greedy) needs no draw: x is kept exactly when it is the choice.
  if (p.size() == 1) return px > 0.0 ? Verdict{true, x} : Verdict{false, p[0].id};
  if (qx > 0.0 && px > 0.0 && rng.uniform() * qx < px) return {true, x};
  // The residual norm(max(0, p - q)) over p's support (where p is 0 so is the residual).
  double sum = 0.0;
  for (const auto& c : p) sum += std::max(0.0, double(c.p) - (q.empty() ? (c.id == x) : double(q[size_t(c.id)])));
  if (sum <= 0.0) return {false, draw_from(p, rng)};  // p <= q everywhere: only rounding gets here
  const double r = rng.uniform() * sum;
  double cum = 0.0;
  int32_t last = p[0].id;
  for (const auto& c : p) {
    const double w = std::max(0.0, double(c.p) - (q.empty() ? (c.id == x) : double(q[size_t(c.id)])));
    if (w <= 0.0) continue;
    last = c.id;
    cum += w;
    if (r < cum) return {false, c.id};
  }
  return {false, last};
}

}  // namespace airt::engine
