// Copies of a model's weight matrices repacked, once at start-up, into the layout the CPU
// kernels multiply best (hal/cpu/packed.h: Q4_0 in 16-row panels). A copy takes as many
// bytes as the rows it replaces, and the rows' mapped pages are dropped once copied (they
// stay in the page cache and come back if anything reads them), so resident memory stays
// what the mapped rows took. Only the CPU forward pass reads the copies: a device backend
// keeps the mapped rows, and the token embedding table (read a row at a time) is never
// repacked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hal/cpu/kernels.h"
#include "runtime/model/model.h"

namespace airt::model {

struct RepackPlan {
  size_t bytes = 0;                // every tier's repacked matrices, each 64-byte aligned
  int32_t tensors = 0;
  std::vector<size_t> tier_bytes;  // of each tier
};

// What repacking m's matrices for the kernels `k` takes (nothing where k's kernels gain
// nothing from it).
RepackPlan repack_plan(const Model& m, const hal::Kernels& k);

// Every tier's weights, with the matrices repack_plan() counts copied into `mem`
// (plan.bytes, 64-byte aligned) and marked packed; their mapped pages are dropped.
std::vector<Weights> repack(const Model& m, const hal::Kernels& k, void* mem);

}  // namespace airt::model
