// The CPU kernel table: one entry per (op, type), filled at start-up with the best
// variant the CPU supports. Every fast variant has a generic twin that the tests
// compare it against.
//
// Conventions: a matrix W of type T with K columns is stored row-major, each row
// dtype_row_bytes(T, K) bytes (quant blocks along K). Activations are f32; before a
// matrix product they are converted once per row to vec_dot_type(T) (e.g. Q8_0 for
// Q4_0 weights), which is what the dot product consumes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hal/dtype.h"
#include "runtime/core/result.h"

namespace airt::hal {

struct TypeKernels {
  // dst[0..n) = dequantized src; n a multiple of the block size.
  void (*to_float)(const void* src, float* dst, int64_t n) = nullptr;
  // dst = quantized src; null where the type cannot be produced here.
  void (*from_float)(const float* src, void* dst, int64_t n) = nullptr;
  // The type activations are converted to before vec_dot / gemm with this weight type.
  DType vec_dot_type = DType::kF32;
  // *out = dot(w[0..n), x[0..n)), w of this type, x of vec_dot_type.
  void (*vec_dot)(int64_t n, float* out, const void* w, const void* x) = nullptr;
  // out[c * ldo + r] = dot(W row r, X row c) for r in [r0, r1), c in [0, ncols).
  // W rows are w_stride bytes apart, X rows x_stride bytes apart (X in vec_dot_type).
  void (*gemm)(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride,
               const void* x, size_t x_stride, float* out, int64_t ldo) = nullptr;

  // Optional tiled product for many activation columns (prompt processing). The ncols
  // activation columns are converted, each by tile_x_from_float(src, k, x, col), into one
  // buffer of tile_x_bytes(k, ncols) bytes laid out for the tile kernel (the same
  // quantization as from_float of vec_dot_type). tile_gemm computes what gemm computes,
  // to rounding, for rows [r0, r1) of W, packing panels of kTileRows weight rows into
  // `scratch` (kTileScratchBytes, 64-byte aligned) and reusing each across all columns.
  size_t (*tile_x_bytes)(int64_t k, int64_t ncols) = nullptr;
  void (*tile_x_from_float)(const float* src, int64_t k, void* x, int64_t col) = nullptr;
  void (*tile_gemm)(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, size_t w_stride,
                    const void* x, float* out, int64_t ldo, void* scratch) = nullptr;
  // Fewest activation columns hal::matmul hands to tile_gemm (at most 8): a table whose
  // tile_gemm is cheap for a few columns takes it from there, not only for prompts.
  int64_t tile_min_cols = 8;

  // Optional: what gemm computes, over weights repacked by hal::pack_rows (packed.h), for
  // any ncols >= 1; X as for gemm (vec_dot_type rows, x_stride bytes apart). r0 and r1
  // are multiples of kPackRows. `scratch` holds kTileScratchBytes, 64-byte aligned.
  void (*packed_gemm)(int64_t k, int64_t r0, int64_t r1, int64_t ncols, const void* w, const void* x,
                      size_t x_stride, float* out, int64_t ldo, void* scratch) = nullptr;
  // Whether packed_gemm is this table's own, fast one, so that weights are worth repacking
  // for it (the generic table's is the reference the tests compare with).
  bool packed_pays = false;
};

// Query rows one attention call takes at most.
constexpr int kAttnMaxRows = 16;
// Scratch of one attention call over at most n_kv keys with head size hd.
constexpr size_t attention_scratch_bytes(int64_t n_kv, int64_t hd) {
  return size_t(4 * (kAttnMaxRows * n_kv + 32 * hd) + 256);
}

// Rows of W one tile_gemm panel holds; thread row ranges are aligned to it.
constexpr int64_t kTileRows = 16;
// Per-thread scratch tile_gemm may use (ThreadPool::scratch holds at least this much).
constexpr size_t kTileScratchBytes = 160 * 1024;

struct Kernels {
  const char* isa = "generic";
  TypeKernels types[kDTypeCount];

  // y = x / rms(x) * w over n elements.
  void (*rms_norm)(const float* x, const float* w, float* y, int64_t n, float eps) = nullptr;
  // In place, numerically stable.
  void (*softmax)(float* x, int64_t n) = nullptr;
  // out = silu(gate) * up.
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n) = nullptr;
  // Rotates one head vector x[0..head_dim) at position `pos`. neox=false rotates
  // adjacent pairs (x[2i], x[2i+1]) as llama does; neox=true rotates (x[i], x[i+n_rot/2])
  // as qwen2 does. The first n_rot dims are rotated (n_rot even, <= head_dim), the rest
  // pass through. Pair i turns by theta_i = pos * freq_scale * freq_base^(-2i/n_rot)
  // (freq_scale is linear position interpolation, 1 for none; ggml's rope with
  // ext_factor 0 and attn_factor 1). Like ggml, base^(-2i/n_rot) is built by repeated f32
  // multiplication, so angles match its to the bit.
  void (*rope)(float* x, int64_t head_dim, int64_t n_rot, int64_t pos, float freq_base,
               float freq_scale, bool neox) = nullptr;
  // y[i] += a * x[i]
  void (*axpy)(int64_t n, float a, const float* x, float* y) = nullptr;
  // f16 <-> f32 rows (KV cache)
  void (*f32_to_f16)(const float* src, uint16_t* dst, int64_t n) = nullptr;
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n) = nullptr;
  // Causal attention of nq <= kAttnMaxRows query rows (e.g. the heads of one KV group for
  // a few tokens) against one KV head of an f16 cache. Key j's hd values are at k[j], its
  // value's at v[j] (the rows of a paged cache need not be adjacent). Row r (q[r], hd
  // floats) attends to keys 0 .. n_kv[r]-1 (n_kv[r] >= 1). out[r] (hd floats) =
  // softmax(scale · q·Kᵀ) · V. Like ggml's f16 matrix product, q is rounded to f16 before
  // the dot products. `scratch` holds attention_scratch_bytes(max n_kv, hd), 64-byte aligned.
  void (*attention)(int nq, int64_t hd, const float* const* q, const int32_t* n_kv, const uint16_t* const* k,
                    const uint16_t* const* v, float scale, float* const* out, void* scratch) = nullptr;

  const TypeKernels& of(DType t) const { return types[static_cast<uint32_t>(t)]; }
  // Whether a weight matrix of type `t` can be multiplied here (vec_dot and gemm present).
  bool supports_matmul(DType t) const { return of(t).vec_dot != nullptr && of(t).gemm != nullptr; }
};

// The portable reference kernels; always available.
const Kernels& kernels_generic();

// The table for `isa`: "generic", "avx2", "avx512", "neon", "dotprod", or "auto" (the best
// one this CPU runs). A variant table holds its fast kernels and the generic ones for
// everything else. Fails with Error::kBackendUnsupported, naming what is available, when
// this build or this CPU lacks the ISA. Tables are built once, on first request, and live
// for the whole program.
Result<const Kernels*> kernels_select(std::string_view isa);
// kernels_select($AIRT_CPU_ISA), or "auto" when the variable is unset or empty.
Result<const Kernels*> kernels_best();
// The tables this build and CPU can run, best last: "generic avx2 avx512".
std::string kernels_available();

}  // namespace airt::hal
