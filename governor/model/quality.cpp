#include "governor/model/quality.h"

#include <cmath>

namespace airt::governor {
namespace {

constexpr double kPlaceholderTierStep = 1.05;  // each unmeasured tier 5% worse than the one before
constexpr double kPlaceholderBase = 10.0;
constexpr double kPlaceholderWindow =
    1.02;  // unmeasured: a little worse, so it is not chosen for free
constexpr double kPlaceholderKv = 1.01;

template <class K>
void put(std::vector<std::pair<K, double>>& v, K key, double value) {
  for (auto& e : v) {
    if (e.first == key) {
      e.second = value;
      return;
    }
  }
  v.emplace_back(key, value);
}

template <class K>
const double* get(const std::vector<std::pair<K, double>>& v, K key) {
  for (const auto& e : v) {
    if (e.first == key) return &e.second;
  }
  return nullptr;
}

}  // namespace

void QualityTable::set_combo(int32_t tier, int32_t window, KvPrecision kv, double ppl) {
  for (Combo& c : combos_) {
    if (c.tier == tier && c.window == window && c.kv == kv) {
      c.ppl = ppl;
      return;
    }
  }
  combos_.push_back({tier, window, kv, ppl});
}
void QualityTable::set_tier(int32_t tier, double ppl) { put(tiers_, tier, ppl); }
void QualityTable::set_window_ratio(int32_t window, double ratio) { put(windows_, window, ratio); }
void QualityTable::set_kv_ratio(KvPrecision kv, double ratio) { put(kv_, kv, ratio); }

QualityTable::Figure QualityTable::figure(const OperatingPoint& p) const {
  const KvPrecision kv{p.kv_k, p.kv_v};
  for (const Combo& c : combos_) {
    if (c.tier == p.tier && c.window == p.window && c.kv == kv) return {c.ppl, false, true};
  }
  Figure f;
  const double* tier = get(tiers_, p.tier);
  f.measured = tier != nullptr;
  f.ppl = tier ? *tier : kPlaceholderBase * std::pow(kPlaceholderTierStep, p.tier);
  const bool full_f16 = p.window == 0 && kv == KvPrecision{};
  if (p.window != 0) {
    const double* w = get(windows_, p.window);
    f.ppl *= w ? *w : kPlaceholderWindow;
    f.measured = f.measured && w;
  }
  if (!(kv == KvPrecision{})) {
    const double* k = get(kv_, kv);
    f.ppl *= k ? *k : kPlaceholderKv;
    f.measured = f.measured && k;
  }
  f.composed = !full_f16;
  return f;
}

}  // namespace airt::governor
