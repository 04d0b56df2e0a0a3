#include "hal/vulkan/ops.h"

#include <algorithm>
#include <cmath>

namespace airt::hal::vk {
namespace {

// A BufferRef bound from its offset rounded down to the device's alignment; `rest` is the
// offset's remainder in units of `unit` bytes, which the shader adds.
struct Bound {
  BufferRef ref;
  uint32_t rest = 0;
};

Result<Bound> bind(const Context& ctx, const BufferRef& r, uint32_t unit, uint64_t need, const char* what) {
  if (!r.buffer || !r.buffer->handle()) return errorf(Error::kInternal, "vulkan: %s: no buffer", what);
  const uint64_t align = std::max<uint64_t>(ctx.info().min_storage_offset_alignment, 1);
  const uint64_t base = r.offset / align * align, rest = r.offset - base;
  if (rest % unit)
    return errorf(Error::kInternal, "vulkan: %s: offset %llu is not a multiple of %u bytes", what,
                  static_cast<unsigned long long>(r.offset), unit);
  uint64_t range = r.buffer->bytes() - std::min(base, r.buffer->bytes());
  if (ctx.info().max_storage_range) range = std::min<uint64_t>(range, ctx.info().max_storage_range);
  if (rest + need > range)
    return errorf(Error::kRequestOutOfRange,
                  "vulkan: %s: %llu bytes at offset %llu are past the buffer or the device's largest binding (%llu)",
                  what, static_cast<unsigned long long>(need), static_cast<unsigned long long>(r.offset),
                  static_cast<unsigned long long>(ctx.info().max_storage_range));
  return Bound{BufferRef(*r.buffer, base, range), uint32_t(rest / unit)};
}

uint32_t groups(int64_t n, uint32_t per) { return uint32_t((n + per - 1) / per); }

// Rows spread over grid x and y: one dimension holds at most 65535 workgroups.
void row_grid(int64_t rows, uint32_t* gx, uint32_t* gy) {
  *gx = uint32_t(std::min<int64_t>(rows, 65535));
  *gy = groups(rows, *gx);
}

bool kv_type(DType t) { return t == DType::kF16 || t == DType::kQ8_0 || t == DType::kQ4_0; }
bool quantized(DType t) { return t != DType::kF32 && t != DType::kF16; }
bool k_quant(DType t) { return t == DType::kQ4_K || t == DType::kQ6_K; }

struct MatvecPush {
  uint32_t k, rows, row_bytes, w_off, x_off, x_stride, o_off, o_stride;
};
struct MatmulPush {
  uint32_t k, rows, n, row_bytes, w_off, x_off, x_stride, o_off, o_stride;
};
struct QuantizePush {
  uint32_t k, n, x_off, x_stride, q_off;
};
struct GetRowsPush {
  uint32_t k, row_bytes, w_off, ids_off, o_off;
};
struct RmsNormPush {
  uint32_t n;
  float eps;
  uint32_t x_off, w_off, y_off;
};
struct RopePush {
  uint32_t n_heads, head_dim, n_rot, neox, heads_per_pos, x_off, cs_off;
};
struct SoftmaxPush {
  uint32_t n, x_off;
};
struct BinaryPush {
  uint32_t n, a_off, b_off, o_off;
};
struct AttentionPush {
  uint32_t hd, group, q_off, q_stride, o_off, o_stride, layer_off, keys_off, rows_off;
  float scale;
};
struct KvStorePush {
  uint32_t n, rows, src_off, src_stride, layer_off, dst_off;
};
struct ScalePush {
  uint32_t n;
  float s;
  uint32_t x_off;
};

}  // namespace

void rope_table(const int32_t* pos, int64_t n_pos, int64_t n_rot, float freq_base, float freq_scale, float* table) {
  const float step = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  for (int64_t p = 0; p < n_pos; ++p) {
    float theta = static_cast<float>(pos[p]);
    float* row = table + p * n_rot;
    for (int64_t i = 0; i < n_rot / 2; ++i) {
      const float angle = freq_scale * theta;
      row[2 * i] = std::cos(angle);
      row[2 * i + 1] = std::sin(angle);
      theta *= step;
    }
  }
}

bool Ops::supports(Op op, DType type) {
  switch (op) {
    case Op::kAttention:
    case Op::kKvStore:
      return kv_type(type);
    case Op::kMatmul:
    case Op::kGetRows:
      return type == DType::kF32 || type == DType::kF16 || type == DType::kQ8_0 || type == DType::kQ4_0 ||
             type == DType::kQ5_0 || type == DType::kQ4_K || type == DType::kQ6_K;
    case Op::kRmsNorm:
    case Op::kRope:
    case Op::kSoftmax:
    case Op::kSiluMul:
    case Op::kAdd:
      return type == DType::kF32;
    default:
      return false;
  }
}

uint64_t Ops::matmul_scratch_bytes(DType type, int64_t k, int64_t n) {
  if (!quantized(type)) return 0;
  return k_quant(type) ? uint64_t(n) * uint64_t(k / 256) * 81 * 4 : uint64_t(n) * uint64_t(k / 32) * 9 * 4;
}

Result<const Kernel*> Ops::kernel(const std::string& base, uint32_t bindings, uint32_t push_bytes, bool sg, bool dot,
                                  bool f16) {
  std::string name = base;
  if (sg && ctx_.has(kFeatureSubgroups)) name += "_sg";
  if (dot && ctx_.has(kFeatureIntDot)) name += "_dot";
  if (f16 && ctx_.has(kFeatureFp16)) name += "_f16";
  auto it = kernels_.find(name);
  if (it != kernels_.end()) return &it->second;
  Kernel k = AIRT_TRY(Kernel::create(ctx_, name, bindings, push_bytes, {kWorkgroup}));
  return &kernels_.emplace(name, std::move(k)).first->second;
}

Status Ops::quantize(Recorder& r, const MatmulRefs& a, DType qtype) {
  const uint32_t block = qtype == DType::kQ8_K ? 256 : 32;
  const int64_t x_stride = a.x_stride ? a.x_stride : a.k;
  const Bound x = AIRT_TRY(bind(ctx_, a.x, 4, uint64_t(((a.n - 1) * x_stride + a.k) * 4), "matmul x"));
  const Bound q = AIRT_TRY(bind(ctx_, a.scratch, 4, matmul_scratch_bytes(a.type, a.k, a.n), "matmul scratch"));
  const Kernel* k = AIRT_TRY(kernel(std::string("quantize_") + dtype_name(qtype), 2, sizeof(QuantizePush), false, false));
  const QuantizePush push{uint32_t(a.k), uint32_t(a.n), x.rest, uint32_t(x_stride), q.rest};
  AIRT_TRY(r.dispatch(*k, {x.ref, q.ref}, &push, groups(a.k / block, kWorkgroup), uint32_t(a.n)));
  r.barrier();
  return ok_status();
}

Status Ops::matvec(Recorder& r, const MatmulRefs& a, const BufferRef& xref, uint32_t x_words, uint64_t x_bytes) {
  const int64_t out_stride = a.out_stride ? a.out_stride : a.rows;
  const Bound w = AIRT_TRY(bind(ctx_, a.w, 2, a.row_bytes * uint64_t(a.rows), "matmul weights"));
  const Bound x = AIRT_TRY(bind(ctx_, xref, 4, x_bytes, "matmul x"));
  const Bound o = AIRT_TRY(bind(ctx_, a.out, 4, uint64_t(((a.n - 1) * out_stride + a.rows) * 4), "matmul out"));
  if (a.n >= kTileMinCols) {
    const Kernel* k = AIRT_TRY(kernel(std::string("matmul_") + dtype_name(a.type), 3, sizeof(MatmulPush), false, false,
                                      a.type == DType::kF16));
    const MatmulPush push{uint32_t(a.k), uint32_t(a.rows), uint32_t(a.n), uint32_t(a.row_bytes), w.rest * 2, x.rest,
                          x_words, o.rest, uint32_t(out_stride)};
    AIRT_TRY(r.dispatch(*k, {w.ref, x.ref, o.ref}, &push, groups(a.rows, kTile), groups(a.n, kTile)));
  } else {
    const Kernel* k = AIRT_TRY(kernel(std::string("matvec_") + dtype_name(a.type), 3, sizeof(MatvecPush), true,
                                      quantized(a.type), a.type == DType::kF16));
    const MatvecPush push{uint32_t(a.k), uint32_t(a.rows), uint32_t(a.row_bytes), w.rest * 2, x.rest, x_words,
                          o.rest, uint32_t(out_stride)};
    uint32_t gx, gy;
    row_grid(a.rows, &gx, &gy);
    AIRT_TRY(r.dispatch(*k, {w.ref, x.ref, o.ref}, &push, gx, gy, uint32_t(a.n)));
  }
  r.barrier();
  return ok_status();
}

Status Ops::matmul(Recorder& r, const MatmulRefs& a) {
  if (!supports(Op::kMatmul, a.type))
    return errorf(Error::kBackendUnsupported, "vulkan: no matmul shader for %s weights", dtype_name(a.type));
  if (a.k <= 0 || a.rows <= 0 || a.n <= 0 || a.k % dtype_info(a.type).block_size)
    return errorf(Error::kInternal, "vulkan: matmul %s k=%lld rows=%lld n=%lld", dtype_name(a.type),
                  (long long)a.k, (long long)a.rows, (long long)a.n);
  if (!quantized(a.type)) {
    const int64_t x_stride = a.x_stride ? a.x_stride : a.k;
    return matvec(r, a, a.x, uint32_t(x_stride), uint64_t((a.n - 1) * x_stride + a.k) * 4);
  }
  AIRT_TRY(quantize(r, a, k_quant(a.type) ? DType::kQ8_K : DType::kQ8_0));
  const uint32_t words = uint32_t(k_quant(a.type) ? a.k / 256 * 81 : a.k / 32 * 9);
  return matvec(r, a, a.scratch, words, matmul_scratch_bytes(a.type, a.k, a.n));
}

Status Ops::get_rows(Recorder& r, DType type, int64_t k, const BufferRef& w, uint64_t row_bytes, const BufferRef& ids,
                     int64_t n, const BufferRef& out) {
  if (!supports(Op::kGetRows, type))
    return errorf(Error::kBackendUnsupported, "vulkan: no get_rows shader for %s", dtype_name(type));
  const Bound wb = AIRT_TRY(bind(ctx_, w, 2, row_bytes, "get_rows weights"));
  const Bound ib = AIRT_TRY(bind(ctx_, ids, 4, uint64_t(n) * 4, "get_rows ids"));
  const Bound ob = AIRT_TRY(bind(ctx_, out, 4, uint64_t(n * k) * 4, "get_rows out"));
  const Kernel* kr = AIRT_TRY(kernel(std::string("get_rows_") + dtype_name(type), 3, sizeof(GetRowsPush), false, false));
  const GetRowsPush push{uint32_t(k), uint32_t(row_bytes), wb.rest * 2, ib.rest, ob.rest};
  AIRT_TRY(r.dispatch(*kr, {wb.ref, ib.ref, ob.ref}, &push, uint32_t(n)));
  r.barrier();
  return ok_status();
}

Status Ops::rms_norm(Recorder& r, const BufferRef& x, const BufferRef& w, const BufferRef& y, int64_t rows, int64_t n,
                     float eps) {
  const uint64_t bytes = uint64_t(rows * n) * 4;
  const Bound xb = AIRT_TRY(bind(ctx_, x, 4, bytes, "rms_norm x"));
  const Bound wb = AIRT_TRY(bind(ctx_, w, 4, uint64_t(n) * 4, "rms_norm weight"));
  const Bound yb = AIRT_TRY(bind(ctx_, y, 4, bytes, "rms_norm y"));
  const Kernel* k = AIRT_TRY(kernel("rms_norm", 3, sizeof(RmsNormPush), true, false));
  const RmsNormPush push{uint32_t(n), eps, xb.rest, wb.rest, yb.rest};
  AIRT_TRY(r.dispatch(*k, {xb.ref, wb.ref, yb.ref}, &push, uint32_t(rows)));
  r.barrier();
  return ok_status();
}

Status Ops::rope(Recorder& r, const RopeRefs& a) {
  const int64_t n_pos = (a.n_heads + a.heads_per_pos - 1) / a.heads_per_pos;
  const Bound xb = AIRT_TRY(bind(ctx_, a.x, 4, uint64_t(a.n_heads * a.head_dim) * 4, "rope x"));
  const Bound tb = AIRT_TRY(bind(ctx_, a.table, 4, uint64_t(n_pos * a.n_rot) * 4, "rope table"));
  const Kernel* k = AIRT_TRY(kernel("rope", 2, sizeof(RopePush), false, false));
  const RopePush push{uint32_t(a.n_heads), uint32_t(a.head_dim), uint32_t(a.n_rot), a.neox ? 1u : 0u,
                      uint32_t(a.heads_per_pos), xb.rest, tb.rest};
  AIRT_TRY(r.dispatch(*k, {xb.ref, tb.ref}, &push, groups(a.n_heads * (a.n_rot / 2), kWorkgroup)));
  r.barrier();
  return ok_status();
}

Status Ops::softmax(Recorder& r, const BufferRef& x, int64_t rows, int64_t n) {
  const Bound xb = AIRT_TRY(bind(ctx_, x, 4, uint64_t(rows * n) * 4, "softmax x"));
  const Kernel* k = AIRT_TRY(kernel("softmax", 1, sizeof(SoftmaxPush), true, false));
  const SoftmaxPush push{uint32_t(n), xb.rest};
  AIRT_TRY(r.dispatch(*k, {xb.ref}, &push, uint32_t(rows)));
  r.barrier();
  return ok_status();
}

Status Ops::silu_mul(Recorder& r, const BufferRef& gate, const BufferRef& up, const BufferRef& out, int64_t n) {
  const uint64_t bytes = uint64_t(n) * 4;
  const Bound g = AIRT_TRY(bind(ctx_, gate, 4, bytes, "silu_mul gate"));
  const Bound u = AIRT_TRY(bind(ctx_, up, 4, bytes, "silu_mul up"));
  const Bound o = AIRT_TRY(bind(ctx_, out, 4, bytes, "silu_mul out"));
  const Kernel* k = AIRT_TRY(kernel("silu_mul", 3, sizeof(BinaryPush), false, false));
  const BinaryPush push{uint32_t(n), g.rest, u.rest, o.rest};
  AIRT_TRY(r.dispatch(*k, {g.ref, u.ref, o.ref}, &push, groups(n, kWorkgroup)));
  r.barrier();
  return ok_status();
}

Status Ops::add(Recorder& r, const BufferRef& a, const BufferRef& b, const BufferRef& out, int64_t n) {
  const uint64_t bytes = uint64_t(n) * 4;
  const Bound ab = AIRT_TRY(bind(ctx_, a, 4, bytes, "add a"));
  const Bound bb = AIRT_TRY(bind(ctx_, b, 4, bytes, "add b"));
  const Bound o = AIRT_TRY(bind(ctx_, out, 4, bytes, "add out"));
  const Kernel* k = AIRT_TRY(kernel("add", 3, sizeof(BinaryPush), false, false));
  const BinaryPush push{uint32_t(n), ab.rest, bb.rest, o.rest};
  AIRT_TRY(r.dispatch(*k, {ab.ref, bb.ref, o.ref}, &push, groups(n, kWorkgroup)));
  r.barrier();
  return ok_status();
}

Status Ops::scale(Recorder& r, const BufferRef& x, float s, int64_t n) {
  const Bound xb = AIRT_TRY(bind(ctx_, x, 4, uint64_t(n) * 4, "scale x"));
  const Kernel* k = AIRT_TRY(kernel("scale", 1, sizeof(ScalePush), false, false));
  const ScalePush push{uint32_t(n), s, xb.rest};
  AIRT_TRY(r.dispatch(*k, {xb.ref}, &push, groups(n, kWorkgroup)));
  r.barrier();
  return ok_status();
}

Status Ops::attention(Recorder& r, const AttentionRefs& a) {
  if (a.head_dim < 1 || a.head_dim > kMaxHeadDim || a.n_head_kv < 1 || a.n_head % a.n_head_kv)
    return errorf(Error::kBackendUnsupported, "vulkan: attention with head_dim %lld, %lld heads, %lld KV heads "
                  "(head_dim 1..%lld, heads a multiple of KV heads)", (long long)a.head_dim, (long long)a.n_head,
                  (long long)a.n_head_kv, (long long)kMaxHeadDim);
  const int64_t q_stride = a.q_stride ? a.q_stride : a.n_head * a.head_dim;
  const int64_t o_stride = a.out_stride ? a.out_stride : q_stride;
  const uint64_t q_bytes = uint64_t((a.n_rows - 1) * q_stride + a.n_head * a.head_dim) * 4;
  const uint64_t o_bytes = uint64_t((a.n_rows - 1) * o_stride + a.n_head * a.head_dim) * 4;
  const Bound q = AIRT_TRY(bind(ctx_, a.q, 4, q_bytes, "attention q"));
  const Bound kv = AIRT_TRY(bind(ctx_, a.kv, 2, 0, "attention kv"));
  const Bound keys = AIRT_TRY(bind(ctx_, a.keys, 4, uint64_t(a.n_keys) * sizeof(KvKey), "attention keys"));
  const Bound rows = AIRT_TRY(bind(ctx_, a.rows, 4, uint64_t(a.n_rows) * 8, "attention rows"));
  const Bound o = AIRT_TRY(bind(ctx_, a.out, 4, o_bytes, "attention out"));
  const Kernel* k = AIRT_TRY(kernel("attention", 5, sizeof(AttentionPush), true, false, true));
  const AttentionPush push{uint32_t(a.head_dim), uint32_t(a.n_head / a.n_head_kv), q.rest, uint32_t(q_stride),
                           o.rest, uint32_t(o_stride), uint32_t(a.layer_off + kv.rest * 2), keys.rest, rows.rest,
                           a.scale};
  AIRT_TRY(r.dispatch(*k, {q.ref, kv.ref, keys.ref, rows.ref, o.ref}, &push, uint32_t(a.n_head), uint32_t(a.n_rows)));
  r.barrier();
  return ok_status();
}

Status Ops::kv_store(Recorder& r, const KvStoreRefs& a) {
  if (!kv_type(a.type) || (a.type != DType::kF16 && a.n % 32))
    return errorf(Error::kBackendUnsupported, "vulkan: no kv_store for %s rows of %lld", dtype_name(a.type),
                  (long long)a.n);
  const int64_t stride = a.src_stride ? a.src_stride : a.n;
  const Bound src = AIRT_TRY(bind(ctx_, a.src, 4, uint64_t((a.rows - 1) * stride + a.n) * 4, "kv_store src"));
  const Bound kv = AIRT_TRY(bind(ctx_, a.kv, 2, 0, "kv_store kv"));
  const Bound dst = AIRT_TRY(bind(ctx_, a.dst, 4, uint64_t(a.rows) * 4, "kv_store offsets"));
  const Kernel* k = AIRT_TRY(kernel(std::string("kv_store_") + dtype_name(a.type), 3, sizeof(KvStorePush), false,
                                    false));
  const KvStorePush push{uint32_t(a.n), uint32_t(a.rows), src.rest, uint32_t(stride),
                         uint32_t(a.layer_off + kv.rest * 2), dst.rest};
  AIRT_TRY(r.dispatch(*k, {src.ref, kv.ref, dst.ref}, &push, groups(a.rows, kWorkgroup)));
  r.barrier();
  return ok_status();
}

}  // namespace airt::hal::vk
