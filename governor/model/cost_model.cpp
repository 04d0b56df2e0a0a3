#include "governor/model/cost_model.h"

#include <algorithm>
#include <cmath>

namespace airt::governor {
namespace {

// Each step's figure weighs this much against the prior: a handful of steps move it.
constexpr double kForget = 0.98;
constexpr double kRidge = 0.5;

double tier_cost(const CostDefaults& d, int32_t tier) {
  if (d.tier_cost.empty()) return 1.0;
  if (size_t(tier) < d.tier_cost.size()) return d.tier_cost[size_t(tier)];
  return d.tier_cost.back() * std::pow(0.7, double(size_t(tier) - d.tier_cost.size() + 1));
}

}  // namespace

CostModel::CostModel(const Space& space, const Profile* profile, const CostDefaults& defaults)
    : space_(&space), accept_rate_(profile ? profile->accept_rate : defaults.accept_rate) {
  latency_.reserve(space.size());
  power_.reserve(space.size());
  for (size_t i = 0; i < space.size(); ++i) {
    latency_.emplace_back(seed(i, profile, defaults), kForget, kRidge);
    const ProfileEntry* e = profile ? profile->find(space[i]) : nullptr;
    power_.emplace_back(Ewls3::Vec{e && e->watts ? *e->watts : 0.0, 0.0, 0.0}, kForget, kRidge);
    power_seeded_.push_back(e && e->watts);
  }
}

Ewls3::Vec CostModel::seed(size_t i, const Profile* profile, const CostDefaults& d) const {
  const OperatingPoint& p = (*space_)[i];
  if (const ProfileEntry* e = profile ? profile->find(p) : nullptr) {
    // Stored at the maximum clock: a profile measured below it ran slower than that.
    const double r = profile->cpu_mhz > 0 && profile->cpu_max_mhz > 0
                         ? profile->cpu_mhz / profile->cpu_max_mhz
                         : 1.0;
    return {e->step_ms * r, e->decode_ms_per_row * r, e->prefill_ms_per_row * r};
  }
  const double tier = tier_cost(d, p.tier);
  const int32_t threads = space_->threads_of(i), all = space_->config().max_threads;
  const double th = threads > 0 && all > 0 ? double(all) / threads : 1.0;
  const double kv = 0.5 + 0.5 * space_->kv_memory_fraction(i);
  const double step = d.step_ms * tier * th * (1.0 + d.draft_step_fraction * p.draft_len);
  return {step, d.decode_ms_per_row * tier * th * kv, d.prefill_ms_per_row * tier * th};
}

bool CostModel::observe(const StepRecord& s, double freq_ratio, std::optional<double> watts) {
  auto i = space_->find(s.point);
  if (!i || s.wall_ms <= 0) return false;
  const double r = freq_ratio > 0 ? std::min(freq_ratio, 1.0) : 1.0;
  const Ewls3::Vec x{1.0, double(s.rows_decode), double(s.rows_prefill)};
  latency_[*i].add(x, double(s.wall_ms) * r);
  if (watts) power_[*i].add(x, *watts);
  return true;
}

double CostModel::step_ms(size_t i, double rows_decode, double rows_prefill,
                          double freq_ratio) const {
  const double r = freq_ratio > 0 ? std::min(freq_ratio, 1.0) : 1.0;
  return std::max(0.0, latency_[i].predict({1.0, rows_decode, rows_prefill})) / r;
}

double CostModel::tokens_per_step(size_t i) const {
  const int d = (*space_)[i].draft_len;
  if (d <= 0) return 1.0;
  // Expected tokens of a verify step when each draft is accepted with probability a
  // until the first rejection: 1 + a + a^2 + ... + a^d.
  const double a = accept_rate_;
  return (1.0 - std::pow(a, d + 1)) / (1.0 - a);
}

double CostModel::decode_ms_per_token(size_t i, int batch, double freq_ratio) const {
  const int b = std::max(batch, 1);
  return step_ms(i, b * rows_per_sequence(i), 0, freq_ratio) / tokens_per_step(i);
}

std::optional<double> CostModel::watts(size_t i, int batch) const {
  if (!power_seeded_[i] && power_[i].observations() < kMinPowerObservations) return std::nullopt;
  return power_[i].predict({1.0, double(std::max(batch, 1)) * rows_per_sequence(i), 0.0});
}

}  // namespace airt::governor
