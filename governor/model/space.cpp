#include "governor/model/space.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace airt::governor {
namespace {

std::optional<hal::DType> dtype_by_name(const std::string& n) {
  for (uint32_t i = 0; i < hal::kDTypeCount; ++i) {
    if (!hal::dtype_known(i)) continue;
    if (n == hal::dtype_name(hal::DType(i))) return hal::DType(i);
  }
  return std::nullopt;
}

double bytes_per_element(hal::DType t) {
  const hal::DTypeInfo& i = hal::dtype_info(t);
  return double(i.block_bytes) / double(i.block_size);
}

bool any_negative(const std::vector<int32_t>& v) {
  return std::any_of(v.begin(), v.end(), [](int32_t x) { return x < 0; });
}

}  // namespace

Result<KvPrecision> parse_kv_precision(const std::string& text) {
  const size_t slash = text.find('/');
  const std::string k = text.substr(0, slash),
                    v = slash == std::string::npos ? k : text.substr(slash + 1);
  auto dk = dtype_by_name(k), dv = dtype_by_name(v);
  if (!dk || !dv) {
    return errorf(Error::kRequestInvalid,
                  "KV precision '%s': not a type name (f16, q8_0, q4_0, or K/V as q8_0/q4_0)",
                  text.c_str());
  }
  return KvPrecision{*dk, *dv};
}

std::string kv_precision_name(KvPrecision kv) {
  if (kv.k == kv.v) return hal::dtype_name(kv.k);
  return std::string(hal::dtype_name(kv.k)) + "/" + hal::dtype_name(kv.v);
}

Result<BackendKind> parse_backend_kind(const std::string& text) {
  for (BackendKind b : {BackendKind::kCpu, BackendKind::kVulkan})
    if (text == backend_kind_name(b)) return b;
  return errorf(Error::kRequestInvalid, "backend '%s': use cpu or vulkan", text.c_str());
}

Result<Space> Space::make(SpaceConfig c) {
  if (c.tiers.empty() || c.windows.empty() || c.kv.empty() || c.draft_lens.empty() ||
      c.threads.empty() || c.backends.empty()) {
    return errorf(Error::kRequestInvalid,
                  "governor: every knob needs at least one value (tiers, windows, kv, drafts, "
                  "threads, backends)");
  }
  if (any_negative(c.tiers) || any_negative(c.windows) || any_negative(c.draft_lens) ||
      any_negative(c.threads)) {
    return errorf(Error::kRequestInvalid,
                  "governor: tiers, windows, draft lengths and threads cannot be negative");
  }
  for (int32_t w : c.windows) {
    if (c.context > 0 && w > c.context) {
      return errorf(Error::kRequestInvalid,
                    "governor: window %d is longer than the context (%d positions)", w, c.context);
    }
  }
  Space s;
  for (int32_t tier : c.tiers)
    for (int32_t w : c.windows)
      for (const KvPrecision& kv : c.kv)
        for (int32_t d : c.draft_lens)
          for (int32_t th : c.threads)
            for (BackendKind b : c.backends) {
              OperatingPoint p;
              p.tier = tier, p.window = w, p.sinks = w > 0 ? c.sinks : 0, p.kv_k = kv.k,
              p.kv_v = kv.v;
              p.draft_len = d, p.threads = th, p.backend = b;
              s.points_.push_back(p);
            }
  for (const KvPrecision& kv : c.kv) {
    s.widest_kv_bytes_ =
        std::max(s.widest_kv_bytes_, bytes_per_element(kv.k) + bytes_per_element(kv.v));
  }
  s.config_ = std::move(c);
  return s;
}

std::optional<size_t> Space::find(const OperatingPoint& p) const {
  for (size_t i = 0; i < points_.size(); ++i) {
    if (points_[i] == p) return i;
  }
  return std::nullopt;
}

const char* Space::tier_name(int32_t tier) const {
  static const char* const kNames[] = {"tier0", "tier1", "tier2", "tier3",
                                       "tier4", "tier5", "tier6", "tier7"};
  if (tier >= 0 && size_t(tier) < config_.tier_names.size())
    return config_.tier_names[size_t(tier)].c_str();
  return tier >= 0 && tier < 8 ? kNames[tier] : "tier?";
}

int32_t Space::threads_of(size_t i) const {
  return points_[i].threads > 0 ? points_[i].threads : config_.max_threads;
}

double Space::kv_memory_fraction(size_t i) const {
  const OperatingPoint& p = points_[i];
  double positions = 1.0;
  if (p.window > 0 && config_.context > 0)
    positions = std::min(1.0, double(p.window + p.sinks) / config_.context);
  return positions * (bytes_per_element(p.kv_k) + bytes_per_element(p.kv_v)) / widest_kv_bytes_;
}

std::string Space::describe(size_t i) const {
  char buf[160];
  describe_change(i, i, buf, sizeof(buf));
  return buf;
}

namespace {

struct Text {
  char s[24];
};
Text num(int32_t v, const char* zero) {
  Text t;
  if (v == 0)
    std::snprintf(t.s, sizeof(t.s), "%s", zero);
  else
    std::snprintf(t.s, sizeof(t.s), "%d", v);
  return t;
}
Text kv_text(hal::DType k, hal::DType v) {
  Text t;
  if (k == v)
    std::snprintf(t.s, sizeof(t.s), "%s", hal::dtype_name(k));
  else
    std::snprintf(t.s, sizeof(t.s), "%s/%s", hal::dtype_name(k), hal::dtype_name(v));
  return t;
}

}  // namespace

// Writes with snprintf into the caller's buffer: events are described on the engine's
// step path, which does not allocate.
void Space::describe_change(size_t from, size_t to, char* buf, size_t cap) const {
  if (cap == 0) return;
  const OperatingPoint &a = points_[from], &b = points_[to];
  const bool same = from == to;
  size_t n = 0;
  buf[0] = '\0';
  auto knob = [&](bool several, const char* label, const char* x, const char* y) {
    if ((same && !several) || (!same && std::strcmp(x, y) == 0) || n >= cap) return;
    const char* sep = n == 0 ? "" : same ? " " : ", ";
    int w = same ? std::snprintf(buf + n, cap - n, "%s%s%s", sep, label, x)
                 : std::snprintf(buf + n, cap - n, "%s%s%s -> %s", sep, label, x, y);
    if (w > 0) n = std::min(cap - 1, n + size_t(w));
  };
  knob(true, "", tier_name(a.tier), tier_name(b.tier));
  knob(config_.windows.size() > 1, "window ", num(a.window, "full").s, num(b.window, "full").s);
  knob(config_.kv.size() > 1, "kv ", kv_text(a.kv_k, a.kv_v).s, kv_text(b.kv_k, b.kv_v).s);
  knob(config_.draft_lens.size() > 1, "draft ", num(a.draft_len, "off").s,
       num(b.draft_len, "off").s);
  knob(config_.threads.size() > 1, "threads ", num(a.threads, "all").s, num(b.threads, "all").s);
  knob(config_.backends.size() > 1, "backend ", backend_kind_name(a.backend),
       backend_kind_name(b.backend));
  if (n == 0) std::snprintf(buf, cap, "%s", same ? tier_name(a.tier) : "no change");
}

}  // namespace airt::governor
