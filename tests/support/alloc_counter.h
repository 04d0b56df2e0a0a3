// Counts heap allocations in the whole test process: every operator new (from any
// code, libstdc++ included) and every malloc/calloc/realloc/posix_memalign/aligned_alloc
// made by statically linked code (airt's modules; the test links with --wrap).
#pragma once

#include <cstdint>

namespace airt::test {

int64_t alloc_count();

// Counts the allocations made while it lives.
class AllocScope {
 public:
  AllocScope() : start_(alloc_count()) {}
  int64_t count() const { return alloc_count() - start_; }

 private:
  int64_t start_;
};

}  // namespace airt::test
