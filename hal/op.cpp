#include "hal/op.h"

namespace airt::hal {

const char* op_name(Op op) {
  switch (op) {
    case Op::kGetRows: return "get_rows";
    case Op::kMatmul: return "matmul";
    case Op::kRmsNorm: return "rms_norm";
    case Op::kRope: return "rope";
    case Op::kAttention: return "attention";
    case Op::kSoftmax: return "softmax";
    case Op::kSiluMul: return "silu_mul";
    case Op::kAdd: return "add";
    case Op::kKvStore: return "kv_store";
  }
  return "?";
}

}  // namespace airt::hal
