// The operating points a configuration allows: every combination of the lists it gives
// (weight tiers x windows x KV precisions x draft lengths x thread counts x backends),
// enumerated once at start-up in that order, so a point is an index from then on. The
// backends are those the engine planned (its own first, then a CPU fallback): the same
// quality on each, so the policy takes the one predicted faster when it needs speed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "governor/operating_point.h"
#include "runtime/core/result.h"

namespace airt::governor {

struct KvPrecision {
  hal::DType k = hal::DType::kF16, v = hal::DType::kF16;
  bool operator==(const KvPrecision&) const = default;
};
// "f16", "q8_0", or "q8_0/q4_0" for K and V apart; "f16" names K = V = F16.
Result<KvPrecision> parse_kv_precision(const std::string& text);
std::string kv_precision_name(KvPrecision kv);

struct SpaceConfig {
  std::vector<int32_t> tiers{0};        // indices into the model's tiers, best first
  std::vector<std::string> tier_names;  // "q8_0", "q4_0"; empty: "tier0", "tier1"
  std::vector<int32_t> windows{0};      // positions; 0: the whole context
  int32_t sinks = 4;                    // first positions kept visible with a window
  int32_t context = 0;                  // positions the plan holds (for KV memory figures)
  std::vector<KvPrecision> kv{KvPrecision{}};
  std::vector<int32_t> draft_lens{0};
  std::vector<int32_t> threads{0};  // 0: every thread the engine owns
  int32_t max_threads = 0;          // what 0 means, for the cost defaults; 0: unknown
  std::vector<BackendKind> backends{BackendKind::kCpu};  // planned backends, the engine's own first
};

// "cpu" or "vulkan" as a BackendKind; an error naming the text otherwise.
Result<BackendKind> parse_backend_kind(const std::string& text);

class Space {
 public:
  // Fails when a list is empty, a value is negative or a window exceeds the context.
  static Result<Space> make(SpaceConfig config);

  size_t size() const { return points_.size(); }
  const OperatingPoint& operator[](size_t i) const { return points_[i]; }
  std::optional<size_t> find(const OperatingPoint& p) const;
  const SpaceConfig& config() const { return config_; }

  const char* tier_name(int32_t tier) const;
  // Threads the point runs on (0 resolved to max_threads; 0 when both are unknown).
  int32_t threads_of(size_t i) const;
  // KV bytes of the point relative to the most expensive one (the whole context at the
  // widest precision): 1.0 is the plan's size, 0.25 a quarter of it.
  double kv_memory_fraction(size_t i) const;
  // "q8_0 window 512 kv q8_0 draft 4 threads 4" (knobs at their only value left out).
  std::string describe(size_t i) const;
  // The knobs that differ: "q8_0 -> q4_0, kv f16 -> q8_0". Writes into buf, no allocation.
  void describe_change(size_t from, size_t to, char* buf, size_t cap) const;

 private:
  SpaceConfig config_;
  std::vector<OperatingPoint> points_;
  double widest_kv_bytes_ = 0;  // per position, K + V
};

}  // namespace airt::governor
