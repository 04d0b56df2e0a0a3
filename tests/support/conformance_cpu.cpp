#include "tests/support/conformance_cpu.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "hal/cpu/matmul.h"
#include "hal/dtype.h"

namespace airt::conformance {
namespace {

using hal::DType;
using hal::Op;

// A 64-byte aligned view into a vector sized bytes + 64.
void* aligned64(std::vector<uint8_t>& v, size_t bytes) {
  v.resize(bytes + 64);
  return v.data() + (64 - reinterpret_cast<uintptr_t>(v.data()) % 64) % 64;
}

bool is_kv_type(DType t) { return t == DType::kF16 || t == DType::kQ8_0 || t == DType::kQ4_0; }

}  // namespace

Result<std::unique_ptr<CpuOpBackend>> CpuOpBackend::create(const hal::Kernels& k, int threads) {
  auto b = std::unique_ptr<CpuOpBackend>(new CpuOpBackend(k, threads));
  if (threads > 1) {
    b->pool_ = AIRT_TRY(hal::ThreadPool::create(threads));
    const size_t bytes = hal::ThreadPool::scratch_bytes(threads);
    b->pool_scratch_ = AIRT_TRY(Arena::reserve(bytes));
    AIRT_TRY(b->pool_->attach_scratch(b->pool_scratch_.alloc(bytes), bytes));
  }
  return b;
}

std::string CpuOpBackend::name() const {
  return std::string("cpu-") + k_.isa + "-t" + std::to_string(threads_);
}

bool CpuOpBackend::supports(Op op, DType t) const {
  switch (op) {
    case Op::kMatmul: return k_.supports_matmul(t);
    case Op::kGetRows: return k_.of(t).to_float != nullptr;
    case Op::kAttention:
      return t == DType::kF16 ? k_.attention != nullptr
                              : is_kv_type(t) && k_.of(t).to_float != nullptr;
    case Op::kKvStore:
      return t == DType::kF16 ? k_.f32_to_f16 != nullptr : is_kv_type(t) && k_.of(t).from_float;
    default: return t == DType::kF32;
  }
}

Status CpuOpBackend::matmul(const MatmulArgs& a) {
  const hal::MatrixView w{a.w, a.type, a.k, a.rows, a.row_bytes};
  std::vector<uint8_t> buf;
  void* scratch = aligned64(buf, hal::matmul_scratch_bytes(k_, w, a.n));
  hal::matmul(pool_.get(), k_, w, a.x, a.n, a.out, a.rows, scratch);
  return {};
}

Status CpuOpBackend::get_rows(const GetRowsArgs& a) {
  const auto* w = static_cast<const uint8_t*>(a.w);
  for (int64_t i = 0; i < a.n; ++i)
    k_.of(a.type).to_float(w + size_t(a.ids[i]) * a.row_bytes, a.out + i * a.k, a.k);
  return {};
}

Status CpuOpBackend::rms_norm(const RmsNormArgs& a) {
  for (int64_t r = 0; r < a.rows; ++r) k_.rms_norm(a.x + r * a.n, a.w, a.y + r * a.n, a.n, a.eps);
  return {};
}

Status CpuOpBackend::rope(const RopeArgs& a) {
  for (int64_t h = 0; h < a.n_heads; ++h) {
    k_.rope(a.x + h * a.head_dim, a.head_dim, a.n_rot, a.pos[h], a.freq_base, a.freq_scale, a.neox);
  }
  return {};
}

Status CpuOpBackend::softmax(const SoftmaxArgs& a) {
  for (int64_t r = 0; r < a.rows; ++r) k_.softmax(a.x + r * a.n, a.n);
  return {};
}

Status CpuOpBackend::silu_mul(const SiluMulArgs& a) {
  k_.silu_mul(a.gate, a.up, a.out, a.n);
  return {};
}

Status CpuOpBackend::add(const AddArgs& a) {
  // The table has no add of its own; the forward pass adds residuals with axpy(1).
  std::memcpy(a.out, a.a, size_t(a.n) * sizeof(float));
  k_.axpy(a.n, 1.0f, a.b, a.out);
  return {};
}

Status CpuOpBackend::attention(const AttentionArgs& a) {
  if (a.nq < 1 || a.nq > hal::kAttnMaxRows) {
    return errorf(Error::kRequestOutOfRange, "attention: %d query rows; the kernel takes 1..%d",
                  a.nq, hal::kAttnMaxRows);
  }
  if (a.kv_type != DType::kF16) return attention_rows(a);
  const int32_t max_kv = *std::max_element(a.n_kv, a.n_kv + a.nq);
  std::vector<uint8_t> buf;
  void* scratch = aligned64(buf, hal::attention_scratch_bytes(max_kv, a.hd));
  k_.attention(a.nq, a.hd, a.q, a.n_kv, reinterpret_cast<const uint16_t* const*>(a.k),
               reinterpret_cast<const uint16_t* const*>(a.v), a.scale, a.out, scratch);
  return {};
}

Status CpuOpBackend::attention_rows(const AttentionArgs& a) {
  const hal::TypeKernels& kt = k_.of(a.kv_type);
  std::vector<float> row(size_t(a.hd)), scores;
  for (int r = 0; r < a.nq; ++r) {
    scores.assign(size_t(a.n_kv[r]), 0.0f);
    for (int32_t j = 0; j < a.n_kv[r]; ++j) {
      kt.to_float(a.k[j], row.data(), a.hd);
      k_.of(DType::kF32).vec_dot(a.hd, &scores[size_t(j)], row.data(), a.q[r]);
      scores[size_t(j)] *= a.scale;
    }
    k_.softmax(scores.data(), a.n_kv[r]);
    std::memset(a.out[r], 0, size_t(a.hd) * sizeof(float));
    for (int32_t j = 0; j < a.n_kv[r]; ++j) {
      kt.to_float(a.v[j], row.data(), a.hd);
      k_.axpy(a.hd, scores[size_t(j)], row.data(), a.out[r]);
    }
  }
  return {};
}

Status CpuOpBackend::kv_store(const KvStoreArgs& a) {
  const size_t rb = hal::dtype_row_bytes(a.type, a.n);
  auto* dst = static_cast<uint8_t*>(a.dst);
  for (int64_t r = 0; r < a.rows; ++r) {
    if (a.type == DType::kF16) {
      k_.f32_to_f16(a.src + r * a.n, reinterpret_cast<uint16_t*>(dst + size_t(r) * rb), a.n);
    } else {
      k_.of(a.type).from_float(a.src + r * a.n, dst + size_t(r) * rb, a.n);
    }
  }
  return {};
}

}  // namespace airt::conformance
