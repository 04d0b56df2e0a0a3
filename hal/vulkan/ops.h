// The forward pass's operations on a Vulkan device, recorded into a Recorder: one call per
// op, each followed by a barrier, so a caller records ops in order and never thinks about
// hazards. Buffers are addressed by BufferRef (buffer + byte offset); an op binds from the
// offset rounded down to the device's alignment and passes the rest in push constants, so
// any 4-byte aligned offset works (weights: any even offset).
//
// Kernels (pipelines) are built on first use, which is while recording: record at start-up
// and replay in the token loop. Which shader build an op takes follows the Context's
// features: subgroup reductions (_sg), integer dot products (_dot), or the portable ones.
//
// Ownership: an Ops holds a reference to its Context, which must outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "hal/dtype.h"
#include "hal/op.h"
#include "hal/vulkan/buffer.h"
#include "hal/vulkan/context.h"
#include "hal/vulkan/kernel.h"
#include "hal/vulkan/recorder.h"
#include "runtime/core/result.h"

namespace airt::hal::vk {

// out (n columns of `rows` floats) = W (rows x k, `type`, row_bytes apart) · X (n columns
// of k floats, x_stride floats apart; 0 = k). Quantized weights first quantize X into
// `scratch` (matmul_scratch_bytes; unused for f32/f16).
struct MatmulRefs {
  DType type = DType::kF32;
  int64_t k = 0, rows = 0, n = 1;
  BufferRef w;
  uint64_t row_bytes = 0;
  BufferRef x;
  int64_t x_stride = 0;
  BufferRef out;
  int64_t out_stride = 0;  // floats from one output column to the next; 0 = rows
  BufferRef scratch;
};

// In place over n_heads heads of head_dim floats (head h at x + h * head_dim floats);
// heads h .. h+heads_per_pos-1 share row h / heads_per_pos of `table` (rope_table).
struct RopeRefs {
  BufferRef x;
  BufferRef table;
  int64_t n_heads = 0, head_dim = 0, n_rot = 0, heads_per_pos = 1;
  bool neox = false;
};

// One visible key of an attention row: byte offsets of its K and V rows in the KV buffer
// (before the layer's offset) and their types (kv_key_types). Rows of one sequence's
// blocks are not adjacent, and blocks written at different precisions hold different types.
struct KvKey {
  uint32_t k_off = 0, v_off = 0, types = 0;
};
static_assert(sizeof(KvKey) == 12);
inline uint32_t kv_key_types(DType k, DType v) { return uint32_t(k) | (uint32_t(v) << 8); }

// Attention of n_rows query rows x n_head heads: row r sees keys rows[r].first ..
// rows[r].first + rows[r].n - 1 of `keys` (KvKey entries); head h reads the elements of KV
// head h / (n_head / n_head_kv) in each K/V row. out has q's layout.
struct AttentionRefs {
  BufferRef q;             // n_rows rows of q_stride floats, head h at h * head_dim
  int64_t q_stride = 0;    // 0: n_head * head_dim
  BufferRef kv;            // the KV storage; KvKey offsets count from here
  uint64_t layer_off = 0;  // added to every offset (KvCache::k_offset's layer term)
  BufferRef keys;
  int64_t n_keys = 0;
  BufferRef rows;  // per query row two uint32: first key, keys (>= 1)
  BufferRef out;
  int64_t out_stride = 0;  // 0: q_stride
  int64_t n_rows = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  float scale = 0;
};

// f32 rows (n floats, src_stride apart) -> K/V rows of `type` (f16, q8_0, q4_0) at the
// byte offsets in `dst` (one uint32 per row) plus layer_off, in the KV buffer.
struct KvStoreRefs {
  DType type = DType::kF16;
  BufferRef src;
  int64_t src_stride = 0;  // 0: n
  BufferRef kv;
  uint64_t layer_off = 0;
  BufferRef dst;
  int64_t rows = 0, n = 0;
};

// Row p of a rope table (n_rot floats: cos, sin of each pair) for position pos[p], with
// the CPU kernels' own angles (hal/cpu/kernels.h rope): repeated f32 multiplication by
// freq_base^(-2/n_rot), times freq_scale.
void rope_table(const int32_t* pos, int64_t n_pos, int64_t n_rot, float freq_base, float freq_scale, float* table);

class Ops {
 public:
  explicit Ops(Context& ctx) : ctx_(ctx) {}
  Ops(const Ops&) = delete;
  Ops& operator=(const Ops&) = delete;

  // Whether `op` over `type` has a shader here (type kF32 for the untyped ops).
  static bool supports(Op op, DType type);
  // Bytes matmul needs in `scratch` for n columns of k (0 for f32/f16 weights).
  static uint64_t matmul_scratch_bytes(DType type, int64_t k, int64_t n);

  Status matmul(Recorder& r, const MatmulRefs& a);
  // out row i (k floats) = W row ids[i] (int32) dequantized, for i < n.
  Status get_rows(Recorder& r, DType type, int64_t k, const BufferRef& w, uint64_t row_bytes, const BufferRef& ids,
                  int64_t n, const BufferRef& out);
  // y row = x row / rms(x row) * w, `rows` rows of n floats (y may be x).
  Status rms_norm(Recorder& r, const BufferRef& x, const BufferRef& w, const BufferRef& y, int64_t rows, int64_t n,
                  float eps);
  Status rope(Recorder& r, const RopeRefs& a);
  // In place over `rows` rows of n floats.
  Status softmax(Recorder& r, const BufferRef& x, int64_t rows, int64_t n);
  Status silu_mul(Recorder& r, const BufferRef& gate, const BufferRef& up, const BufferRef& out, int64_t n);
  // out = a + b over n floats (out may be a or b).
  Status add(Recorder& r, const BufferRef& a, const BufferRef& b, const BufferRef& out, int64_t n);
  // x *= s over n floats.
  Status scale(Recorder& r, const BufferRef& x, float s, int64_t n);
  Status attention(Recorder& r, const AttentionRefs& a);
  Status kv_store(Recorder& r, const KvStoreRefs& a);

  // The largest head_dim attention takes.
  static constexpr int64_t kMaxHeadDim = 256;

  // Invocations per workgroup of every kernel here (matmul.comp's tiles assume 64).
  static constexpr uint32_t kWorkgroup = 64;
  // From this many columns on, matmul takes the 32 x 32 tiles of matmul.comp, which read
  // each weight once per 32 columns; fewer go through matvec.comp, once per column.
  static constexpr int64_t kTileMinCols = 8;
  static constexpr uint32_t kTile = 32;

 private:
  // The kernel `name` (plus _sg / _dot per the features and flags), built on first use.
  // The build of `name` for the features on: _sg, _dot and _f16 where asked and available.
  Result<const Kernel*> kernel(const std::string& name, uint32_t bindings, uint32_t push_bytes, bool sg, bool dot,
                               bool f16 = false);
  // X at `x`, x_words words per column, x_bytes in all.
  Status matvec(Recorder& r, const MatmulRefs& a, const BufferRef& x, uint32_t x_words, uint64_t x_bytes);
  Status quantize(Recorder& r, const MatmulRefs& a, DType qtype);

  Context& ctx_;
  std::map<std::string, Kernel> kernels_;
};

}  // namespace airt::hal::vk
