// Backend conformance harness (in the spirit of ggml's test-backend-ops): every op of
// hal/op.h, every type it takes, over odd sizes, run on a backend under test and on the
// reference (the generic CPU kernels), compared by normalised mean squared error
// (NMSE = sum (got - want)^2 / sum want^2) against a bound per op and type.
//
// The harness is backend-neutral: a backend takes part by implementing OpBackend, whose
// calls take host buffers; a device backend uploads the inputs, runs the op and downloads
// the outputs inside each call. The CPU implementation is conformance_cpu.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hal/dtype.h"
#include "hal/op.h"
#include "runtime/core/result.h"

namespace airt::conformance {

// out (n x rows, row-major by activation row) = X (n x k, f32) · Wᵀ; W `rows` rows of
// `type`, row_bytes apart.
struct MatmulArgs {
  hal::DType type;
  int64_t k, rows, n;
  const void* w;
  size_t row_bytes;
  const float* x;
  float* out;
};
// out row i (k floats) = W row ids[i] dequantized.
struct GetRowsArgs {
  hal::DType type;
  int64_t k;
  const void* w;
  size_t row_bytes;
  const int32_t* ids;
  int64_t n;
  float* out;
};
// y row r = x row r / rms(x row r) * w, for `rows` rows of n floats.
struct RmsNormArgs {
  const float* x;
  const float* w;
  float* y;
  int64_t rows, n;
  float eps;
};
// In place over n_heads head vectors of head_dim floats, head h at position pos[h].
struct RopeArgs {
  float* x;
  int64_t n_heads, head_dim, n_rot;
  const int32_t* pos;
  float freq_base, freq_scale;
  bool neox;
};
// In place over `rows` rows of n floats.
struct SoftmaxArgs {
  float* x;
  int64_t rows, n;
};
// out = silu(gate) * up over n floats.
struct SiluMulArgs {
  const float* gate;
  const float* up;
  float* out;
  int64_t n;
};
// out = a + b over n floats.
struct AddArgs {
  const float* a;
  const float* b;
  float* out;
  int64_t n;
};
// Causal attention of nq query rows (hd floats each) against K/V rows of kv_type given as
// row pointers (the rows of a paged cache are not adjacent): row r sees keys
// 0 .. n_kv[r]-1; out[r] = softmax(scale · q·Kᵀ) · V.
struct AttentionArgs {
  hal::DType kv_type;  // f16, q8_0 or q4_0
  int nq;
  int64_t hd;
  const float* const* q;
  const int32_t* n_kv;
  const void* const* k;
  const void* const* v;
  float scale;
  float* const* out;
};
// dst (rows rows of `type`, dtype_row_bytes(type, n) each) = the f32 rows of src.
struct KvStoreArgs {
  hal::DType type;  // f16, q8_0 or q4_0
  const float* src;
  void* dst;
  int64_t rows, n;
};

// What a backend implements to be checked. Every call is synchronous and takes host
// memory; supports() says which (op, type) pairs the harness may call.
class OpBackend {
 public:
  virtual ~OpBackend() = default;
  virtual std::string name() const = 0;
  // For ops without a type parameter (rms_norm, softmax, ...) the type is kF32.
  virtual bool supports(hal::Op op, hal::DType type) const = 0;
  virtual Status matmul(const MatmulArgs& a) = 0;
  virtual Status get_rows(const GetRowsArgs& a) = 0;
  virtual Status rms_norm(const RmsNormArgs& a) = 0;
  virtual Status rope(const RopeArgs& a) = 0;
  virtual Status softmax(const SoftmaxArgs& a) = 0;
  virtual Status silu_mul(const SiluMulArgs& a) = 0;
  virtual Status add(const AddArgs& a) = 0;
  virtual Status attention(const AttentionArgs& a) = 0;
  virtual Status kv_store(const KvStoreArgs& a) = 0;
};

// One invocation: the op, its type and its sizes (which fields mean what depends on op).
struct Case {
  hal::Op op;
  hal::DType type;
  int64_t a = 0, b = 0, c = 0;  // matmul k, rows, n; get_rows k, rows, n; rms_norm etc. rows, n;
                                // rope heads, head_dim, n_rot; attention nq, hd, keys
  bool flag = false;            // rope: neox pairs
  uint32_t seed = 1;
  std::string name() const;  // "matmul q4_0 k=224 rows=37 n=17"
};

// The (op, type) pairs the harness covers, with the types each op takes.
struct OpType {
  hal::Op op;
  hal::DType type;
};
std::vector<OpType> op_types();
// The cases for one pair: odd sizes, both matmul paths, both rope pair modes.
std::vector<Case> cases(hal::Op op, hal::DType type);
// The NMSE bound for a pair.
double nmse_bound(hal::Op op, hal::DType type);

double nmse(const float* got, const float* want, size_t n);

struct Outcome {
  bool ok = false;
  double nmse = 0, bound = 0;
  std::string message;  // the case, the error and the bound on failure
};
// Runs `c` with the same inputs on `backend` and on `reference` and compares them.
Outcome run_case(OpBackend& backend, OpBackend& reference, const Case& c);

}  // namespace airt::conformance
