// The reference kernel table. Filled by explicit assignments when first asked for, never
// by static registration, so what a table holds is readable in one place.
#include "hal/cpu/kernels/generic/generic.h"

namespace airt::hal::generic {
namespace {

#include "hal/cpu/kernels/gemm_driver.h"  // NOLINT(bugprone-suspicious-include): per-TU copies

template <GemmDotFn Dot>
void set_dot(TypeKernels& t, DType vec_dot_type) {
  t.vec_dot_type = vec_dot_type;
  t.vec_dot = Dot;
  t.gemm = gemm_rows<Dot>;
}

}  // namespace

void fill_generic(Kernels& k) {
  k = Kernels{};
  k.isa = "generic";
  auto& t = k.types;
  auto at = [&t](DType d) -> TypeKernels& { return t[static_cast<uint32_t>(d)]; };

  at(DType::kF32).to_float = f32_to_float;
  at(DType::kF32).from_float = f32_from_float;
  set_dot<vec_dot_f32>(at(DType::kF32), DType::kF32);
  at(DType::kF16).to_float = f16_to_float;
  at(DType::kF16).from_float = f16_from_float;
  set_dot<vec_dot_f16>(at(DType::kF16), DType::kF16);
  at(DType::kBF16).to_float = bf16_to_float;
  at(DType::kBF16).from_float = bf16_from_float;
  set_dot<vec_dot_bf16>(at(DType::kBF16), DType::kBF16);

  at(DType::kQ4_0).to_float = q4_0_to_float;
  at(DType::kQ4_0).from_float = q4_0_from_float;
  set_dot<vec_dot_q4_0_q8_0>(at(DType::kQ4_0), DType::kQ8_0);
  at(DType::kQ4_0).packed_gemm = packed_gemm_q4_0;
  at(DType::kQ4_1).to_float = q4_1_to_float;
  at(DType::kQ4_1).from_float = q4_1_from_float;
  set_dot<vec_dot_q4_1_q8_1>(at(DType::kQ4_1), DType::kQ8_1);
  at(DType::kQ5_0).to_float = q5_0_to_float;
  at(DType::kQ5_0).from_float = q5_0_from_float;
  set_dot<vec_dot_q5_0_q8_0>(at(DType::kQ5_0), DType::kQ8_0);
  at(DType::kQ5_1).to_float = q5_1_to_float;
  at(DType::kQ5_1).from_float = q5_1_from_float;
  set_dot<vec_dot_q5_1_q8_1>(at(DType::kQ5_1), DType::kQ8_1);
  at(DType::kQ8_0).to_float = q8_0_to_float;
  at(DType::kQ8_0).from_float = q8_0_from_float;
  set_dot<vec_dot_q8_0_q8_0>(at(DType::kQ8_0), DType::kQ8_0);
  // Q8_1 and Q8_K are activation formats: convertible, but no dot with themselves.
  at(DType::kQ8_1).to_float = q8_1_to_float;
  at(DType::kQ8_1).from_float = q8_1_from_float;
  at(DType::kQ8_1).vec_dot_type = DType::kQ8_1;
  at(DType::kQ8_K).to_float = q8_k_to_float;
  at(DType::kQ8_K).from_float = q8_k_from_float;
  at(DType::kQ8_K).vec_dot_type = DType::kQ8_K;

  at(DType::kQ2_K).to_float = q2_k_to_float;
  set_dot<vec_dot_q2_k_q8_k>(at(DType::kQ2_K), DType::kQ8_K);
  at(DType::kQ3_K).to_float = q3_k_to_float;
  set_dot<vec_dot_q3_k_q8_k>(at(DType::kQ3_K), DType::kQ8_K);
  at(DType::kQ4_K).to_float = q4_k_to_float;
  at(DType::kQ4_K).from_float = q4_k_from_float;
  set_dot<vec_dot_q4_k_q8_k>(at(DType::kQ4_K), DType::kQ8_K);
  at(DType::kQ5_K).to_float = q5_k_to_float;
  at(DType::kQ5_K).from_float = q5_k_from_float;
  set_dot<vec_dot_q5_k_q8_k>(at(DType::kQ5_K), DType::kQ8_K);
  at(DType::kQ6_K).to_float = q6_k_to_float;
  at(DType::kQ6_K).from_float = q6_k_from_float;
  set_dot<vec_dot_q6_k_q8_k>(at(DType::kQ6_K), DType::kQ8_K);

  k.rms_norm = rms_norm;
  k.softmax = softmax;
  k.silu_mul = silu_mul;
  k.rope = rope;
  k.axpy = axpy;
  k.attention = attention;
  k.f32_to_f16 = f32_to_f16_row;
  k.f16_to_f32 = f16_to_f32_row;
}

}  // namespace airt::hal::generic

namespace airt::hal {

const Kernels& kernels_generic() {
  static const Kernels table = [] {
    Kernels k;
    generic::fill_generic(k);
    return k;
  }();
  return table;
}

}  // namespace airt::hal
