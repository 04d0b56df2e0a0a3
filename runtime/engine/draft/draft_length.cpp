#include "runtime/engine/draft/draft_length.h"

#include <algorithm>
#include <cmath>

namespace airt::engine {
namespace {
constexpr double kCostWeight = 0.25;   // EWMA weight of a new pass's time
constexpr double kDraftWeight = 0.2;
constexpr double kDecay = 0.95;        // per verify round, for the acceptance counts
}  // namespace

size_t DraftLength::arena_bytes(int32_t max_rows) {
  const size_t n = size_t(max_rows) + 1;
  return align_up(n * sizeof(float), Arena::kDefaultAlign) + 2 * align_up(n * sizeof(uint32_t), Arena::kDefaultAlign);
}

Status DraftLength::carve(Arena& arena, int32_t max_rows) {
  max_rows_ = max_rows;
  ms_ = arena.alloc_array<float>(size_t(max_rows) + 1).data();
  n_ = arena.alloc_array<uint32_t>(size_t(max_rows) + 1).data();
  last_ = arena.alloc_array<uint32_t>(size_t(max_rows) + 1).data();
  if (!ms_ || !n_ || !last_) return errorf(Error::kInternal, "draft length: the arena is smaller than its plan");
  reset_costs();
  return {};
}

void DraftLength::reset_costs() {
  if (!ms_) return;
  std::fill(ms_, ms_ + max_rows_ + 1, 0.0f);
  std::fill(n_, n_ + max_rows_ + 1, 0u);
  std::fill(last_, last_ + max_rows_ + 1, 0u);
}

void DraftLength::step(int32_t rows, double ms) {
  if (rows < 1 || rows > max_rows_ || !(ms > 0)) return;
  ++passes_;
  if (n_[rows] >= 2) ms = std::min(ms, 3.0 * ms_[rows]);  // preempted, not slower
  ms_[rows] = n_[rows] == 0 ? float(ms) : float((1 - kCostWeight) * ms_[rows] + kCostWeight * ms);
  ++n_[rows];
  last_[rows] = passes_;
}

void DraftLength::drafted(int32_t d, int32_t tokens, double ms) {
  if (d < 0 || d >= kMaxDrafters || tokens <= 0) return;
  const double per = ms / tokens;
  Drafter& s = d_[d];
  s.ms_per_token = s.ms_per_token == 0 ? per : (1 - kDraftWeight) * s.ms_per_token + kDraftWeight * per;
}

void DraftLength::caught_up(int32_t d, int32_t rows, double ms) {
  if (d < 0 || d >= kMaxDrafters || rows <= 0 || !(ms > 0)) return;
  Drafter& s = d_[d];
  const double per = ms / rows;
  s.ms_per_row = s.ms_per_row == 0 ? per : (1 - kDraftWeight) * s.ms_per_row + kDraftWeight * per;
}

void DraftLength::set_share(int32_t d, double share) {
  if (d >= 0 && d < kMaxDrafters) d_[d].share = std::max(0.0, share);
}

double DraftLength::draft_ms(int32_t d) const {
  const Drafter& s = d_[d];
  return s.ms_per_token > 0 ? s.ms_per_token : s.share * cost(1);
}

double DraftLength::catch_up_ms(int32_t d, int32_t rows) const {
  if (rows <= 0) return 0;
  const Drafter& s = d_[d];
  if (s.ms_per_row > 0) return s.ms_per_row * rows;
  // Not measured: the drafter's share of a target pass as wide as the plan allows.
  const int32_t wide = std::clamp(rows, 1, std::max(max_rows_, 1));
  return s.share * cost(wide) / wide * rows;
}

void DraftLength::verified(int32_t d, int32_t drafted, int32_t accepted) {
  if (d < 0 || d >= kMaxDrafters || drafted <= 0) return;
  Drafter& s = d_[d];
  s.kept = kDecay * s.kept + accepted;
  s.missed = kDecay * s.missed + (accepted < drafted ? 1 : 0);
}

double DraftLength::acceptance(int32_t d) const { return d_[d].kept / (d_[d].kept + d_[d].missed); }

double DraftLength::cost(int32_t rows) const {
  rows = std::clamp(rows, 1, std::max(max_rows_, 1));
  if (!ms_ || max_rows_ == 0) return 0;
  if (n_[rows]) return ms_[rows];
  int32_t lo = rows - 1, hi = rows + 1;
  while (lo >= 1 && !n_[lo]) --lo;
  while (hi <= max_rows_ && !n_[hi]) ++hi;
  if (lo >= 1 && hi <= max_rows_) return ms_[lo] + (ms_[hi] - ms_[lo]) * double(rows - lo) / double(hi - lo);
  if (lo < 1 && hi > max_rows_) return 0;
  if (lo < 1) return ms_[hi];  // fewer rows cost no more than more rows
  // Beyond the last measured count: the slope of the two measured below it, else the prior.
  int32_t lo2 = lo - 1;
  while (lo2 >= 1 && !n_[lo2]) --lo2;
  double slope = kPriorSlope * ms_[lo] / std::max(lo, 1);
  if (lo2 >= 1 && ms_[lo] > ms_[lo2]) slope = std::max(slope, double(ms_[lo] - ms_[lo2]) / double(lo - lo2));
  return ms_[lo] + slope * double(rows - lo);
}

int32_t DraftLength::choose(int32_t d, int32_t m, int32_t cap, int32_t catch_up, int32_t tokens_left) {
  if (d < 0 || d >= kMaxDrafters || m < 1 || cap < 1) return 0;
  Drafter& s = d_[d];
  const double base = cost(m);
  if (base <= 0) return 0;  // measure plain decoding first
  if (m <= max_rows_ && n_[m] && passes_ - last_[m] >= uint32_t(kRefreshEvery)) return 0;  // re-measure it
  const double a = std::min(acceptance(d), 0.99);
  const double per_token = draft_ms(d);
  const double catch_ms = catch_up_ms(d, catch_up);
  const double left = tokens_left > 0 ? tokens_left : kHorizon;
  const double rate0 = m / base;
  double best = rate0 * (1 + kMargin);
  int32_t best_k = 0;
  for (int32_t k = 1; k <= cap && m * (k + 1) <= max_rows_; ++k) {
    const double tokens = (1 - std::pow(a, k + 1)) / (1 - a);
    const double pass = cost(m * (k + 1)) + m * k * per_token + m * catch_ms * tokens / left;
    const double rate = m * tokens / pass;
    if (rate > best) best = rate, best_k = k;
  }
  if (best_k > 0) {
    s.idle = 0;
    s.probe_every = kProbeEvery;
    return best_k;
  }
  if (++s.idle >= s.probe_every) {
    // A probe costs its catch-up, one drafted token and the wider pass: take it only when
    // that is within kMargin of the plain decoding since the drafter was last on (each
    // call is one sequence's round, m of them a step).
    const double probe = catch_ms + per_token + std::max(0.0, cost(2 * m) - base);
    if (double(s.idle) * base / m * kMargin < probe) return 0;
    s.idle = 0;
    s.probe_every = std::min(2 * s.probe_every, kProbeMax);
    return 1;
  }
  return 0;
}

}  // namespace airt::engine
