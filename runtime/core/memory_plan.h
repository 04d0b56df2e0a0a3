// MemoryPlan: every region the runtime will use, named and sized before anything is
// allocated. Commands build the plan first, check it against the budget, print it,
// then reserve one arena of plan.arena_bytes().
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace airt {

enum class RegionKind {
  kMapped,    // file pages mapped read-only (weights); the kernel may drop and re-read them
  kResident,  // carved from the arena: KV cache, activations, scratch, slots, buffers
  kDevice,    // a device backend's own memory (one allocation each), outside the arena
};

struct Region {
  std::string name;
  size_t bytes = 0;
  RegionKind kind = RegionKind::kResident;
  std::string detail;  // e.g. "256 blocks x 16 positions, k=f16 v=f16"
};

class MemoryPlan {
 public:
  void add(std::string name, size_t bytes, RegionKind kind = RegionKind::kResident,
           std::string detail = {});

  const std::vector<Region>& regions() const { return regions_; }
  // Bytes the arena must hold: every resident region, each padded to its alignment.
  size_t arena_bytes() const;
  size_t mapped_bytes() const;
  size_t device_bytes() const;
  size_t total_bytes() const { return arena_bytes() + mapped_bytes(); }

  // A human-readable table, one region per line, with the totals.
  std::string to_string() const;

 private:
  std::vector<Region> regions_;
};

// "1.50 MiB", "312 KiB", "17 B".
std::string format_bytes(size_t bytes);

}  // namespace airt
