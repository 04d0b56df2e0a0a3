#include "runtime/model/repack.h"

#include <sys/mman.h>
#include <unistd.h>

#include "hal/cpu/packed.h"

namespace airt::model {
namespace {

constexpr size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

bool repacks(const hal::Kernels& k, const WeightTensor& w, const Weights& all) {
  return w.data && w.data != all.token_embd.data && k.of(w.type).packed_pays &&
         hal::packable(w.type, w.rows, w.cols);
}

// f(tensor) for every matrix the forward pass multiplies by (W: Weights or const Weights).
template <class W, class F>
void each_matrix(W& w, F&& f) {
  for (auto& l : w.layers) {
    for (auto* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) f(*t);
  }
  f(w.output);
}

// Drops the whole pages inside [p, p + n) from this process's mapping; the file's pages
// stay cached and are read again if touched.
void drop_pages(const void* p, size_t n) {
  const auto page = size_t(sysconf(_SC_PAGESIZE));
  const auto b = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const auto e = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (e > b) (void)madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace

RepackPlan repack_plan(const Model& m, const hal::Kernels& k) {
  RepackPlan plan;
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    const Weights& w = m.tier(t).weights;
    size_t bytes = 0;
    each_matrix(w, [&](const WeightTensor& x) {
      if (!repacks(k, x, w)) return;
      bytes += align64(size_t(x.rows) * x.row_bytes);
      ++plan.tensors;
    });
    plan.tier_bytes.push_back(bytes);
    plan.bytes += bytes;
  }
  return plan;
}

std::vector<Weights> repack(const Model& m, const hal::Kernels& k, void* mem) {
  std::vector<Weights> tiers;
  auto* out = static_cast<uint8_t*>(mem);
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    Weights w = m.tier(t).weights;
    const Weights& raw = m.tier(t).weights;
    each_matrix(w, [&](WeightTensor& x) {
      if (!repacks(k, x, raw)) return;
      const size_t n = size_t(x.rows) * x.row_bytes;
      hal::pack_rows(x.type, x.data, x.row_bytes, x.rows, x.cols, out);
      drop_pages(x.data, n);
      x.data = out;
      x.packed = true;
      out += align64(n);
    });
    tiers.push_back(std::move(w));
  }
  return tiers;
}

}  // namespace airt::model
