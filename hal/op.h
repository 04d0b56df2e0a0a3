// The operations a backend evaluates, named once so that a backend's supports(op, type)
// query, the conformance harness and the forward pass speak of the same things.
#pragma once

#include <cstdint>

namespace airt::hal {

enum class Op : uint8_t {
  kGetRows,    // embedding lookup: rows of a weight matrix by token id (dequantized)
  kMatmul,     // weight matrix (any weight type) x activations, one row or many
  kRmsNorm,    // x / rms(x) * weight
  kRope,       // rotary position embedding (adjacent or NeoX pairs)
  kAttention,  // softmax(q k^T / sqrt(d)) v over paged K/V rows of a KV type
  kSoftmax,
  kSiluMul,    // silu(gate) * up
  kAdd,
  kKvStore,    // converting K/V rows to the cache's type (f16, q8_0, q4_0)
};
constexpr int kOpCount = 9;
const char* op_name(Op op);  // "get_rows", "matmul", ...

}  // namespace airt::hal
