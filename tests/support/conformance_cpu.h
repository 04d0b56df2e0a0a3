// The CPU kernel tables as conformance backends: one per table (generic, avx2, avx512,
// neon, dotprod), each running the table's kernels the way the forward pass does (matrix
// products through hal::matmul on a thread pool, attention through the table's kernel for
// f16 rows and the row path for quantized ones). The generic table on one thread is the
// reference every backend, CPU or device, is compared with.
#pragma once

#include <memory>
#include <string>

#include "hal/cpu/kernels.h"
#include "hal/cpu/thread_pool.h"
#include "runtime/core/arena.h"
#include "tests/support/conformance.h"

namespace airt::conformance {

class CpuOpBackend final : public OpBackend {
 public:
  // `k` outlives the backend; threads > 1 runs matrix products on a pool of that size
  // (its scratch attached from an arena the backend owns).
  static Result<std::unique_ptr<CpuOpBackend>> create(const hal::Kernels& k, int threads);

  std::string name() const override;
  bool supports(hal::Op op, hal::DType type) const override;
  Status matmul(const MatmulArgs& a) override;
  Status get_rows(const GetRowsArgs& a) override;
  Status rms_norm(const RmsNormArgs& a) override;
  Status rope(const RopeArgs& a) override;
  Status softmax(const SoftmaxArgs& a) override;
  Status silu_mul(const SiluMulArgs& a) override;
  Status add(const AddArgs& a) override;
  Status attention(const AttentionArgs& a) override;
  Status kv_store(const KvStoreArgs& a) override;

 private:
  CpuOpBackend(const hal::Kernels& k, int threads) : k_(k), threads_(threads) {}
  // Quantized K/V rows: decode each row, f32 dots, softmax, weighted sum of V (the
  // forward pass's row path).
  Status attention_rows(const AttentionArgs& a);

  const hal::Kernels& k_;
  int threads_;
  Arena pool_scratch_;  // the pool's thread scratch
  std::unique_ptr<hal::ThreadPool> pool_;
};

}  // namespace airt::conformance
