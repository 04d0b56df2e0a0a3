// The harness: case lists, inputs drawn from a seeded generator (so the backend and the
// reference see the same bytes), outputs compared by NMSE. Quantized outputs (kv_store)
// are decoded with the generic kernels before they are compared.
#include "tests/support/conformance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>

#include "hal/cpu/kernels.h"
#include "hal/fp16.h"
#include "tests/unit/hal_test_util.h"

namespace airt::conformance {
namespace {

using hal::DType;
using hal::Op;

constexpr DType kMatmulTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0,
                                  DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                                  DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
constexpr DType kKvTypes[] = {DType::kF16, DType::kQ8_0, DType::kQ4_0};

std::vector<float> gaussian(size_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

// K of a weight type: odd for floats, a multiple of the block that is not one of 256
// where the block allows it.
int64_t weight_k(DType t) {
  const int64_t bs = hal::dtype_info(t).block_size;
  return bs == 1 ? 113 : (bs == 32 ? 32 * 7 : 256 * 2);
}

std::vector<uint8_t> weight_rows(DType t, int64_t k, int64_t rows, std::mt19937& rng) {
  std::vector<uint8_t> w;
  for (int64_t r = 0; r < rows; ++r) {
    auto row = hal::test::random_weights(t, k, rng);
    w.insert(w.end(), row.begin(), row.end());
  }
  return w;
}

// Rows of `type` bytes decoded to f32 (the generic decoder; f32 passes through).
std::vector<float> decode(DType t, const uint8_t* bytes, int64_t rows, int64_t n) {
  std::vector<float> out(size_t(rows * n));
  const size_t rb = hal::dtype_row_bytes(t, n);
  for (int64_t r = 0; r < rows; ++r) {
    hal::kernels_generic().of(t).to_float(bytes + size_t(r) * rb, out.data() + r * n, n);
  }
  return out;
}

Outcome compare(const Case& c, const std::vector<float>& got, const std::vector<float>& want) {
  Outcome o;
  o.bound = nmse_bound(c.op, c.type);
  o.nmse = nmse(got.data(), want.data(), got.size());
  o.ok = o.nmse <= o.bound;  // false for NaN too
  if (!o.ok) {
    char buf[160];
    std::snprintf(buf, sizeof buf, ": NMSE %.3g exceeds the bound %.3g", o.nmse, o.bound);
    o.message = c.name() + buf;
  }
  return o;
}

Outcome failed(const Case& c, const OpBackend& b, const Status& s) {
  Outcome o;
  o.message = c.name() + ": " + b.name() + " failed: " + s.error().message;
  return o;
}

// Runs fn on both backends with output buffers `got` and `want` (already sized).
template <class Fn>
Outcome both(OpBackend& b, OpBackend& ref, const Case& c, std::vector<float>& got,
             std::vector<float>& want, Fn fn) {
  if (Status s = fn(ref, want.data()); !s.ok()) return failed(c, ref, s);
  if (Status s = fn(b, got.data()); !s.ok()) return failed(c, b, s);
  return compare(c, got, want);
}

Outcome run_matmul(OpBackend& b, OpBackend& ref, const Case& c, std::mt19937& rng) {
  const int64_t k = c.a, rows = c.b, n = c.c;
  const auto w = weight_rows(c.type, k, rows, rng);
  const auto x = gaussian(size_t(n * k), rng);
  std::vector<float> got(size_t(n * rows)), want(got.size());
  return both(b, ref, c, got, want, [&](OpBackend& be, float* out) {
    return be.matmul(
        {c.type, k, rows, n, w.data(), hal::dtype_row_bytes(c.type, k), x.data(), out});
  });
}

Outcome run_get_rows(OpBackend& b, OpBackend& ref, const Case& c, std::mt19937& rng) {
  const int64_t k = c.a, rows = c.b, n = c.c;
  const auto w = weight_rows(c.type, k, rows, rng);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = int32_t(rng() % uint32_t(rows));
  std::vector<float> got(size_t(n * k)), want(got.size());
  return both(b, ref, c, got, want, [&](OpBackend& be, float* out) {
    return be.get_rows({c.type, k, w.data(), hal::dtype_row_bytes(c.type, k), ids.data(), n, out});
  });
}

Outcome run_rms_norm(OpBackend& b, OpBackend& ref, const Case& c, std::mt19937& rng) {
  const auto x = gaussian(size_t(c.a * c.b), rng, 3.0f);
  const auto w = gaussian(size_t(c.b), rng);
  std::vector<float> got(x.size()), want(x.size());
  return both(b, ref, c, got, want, [&](OpBackend& be, float* y) {
    return be.rms_norm({x.data(), w.data(), y, c.a, c.b, 1e-5f});
  });
}

Outcome run_rope(OpBackend& b, OpBackend& ref, const Case& c, std::mt19937& rng) {
  const auto x = gaussian(size_t(c.a * c.b), rng);
  std::vector<int32_t> pos(static_cast<size_t>(c.a));
  for (auto& p : pos) p = int32_t(rng() % 4096);
  std::vector<float> got(x), want(x);
  return both(b, ref, c, got, want, [&](OpBackend& be, float* y) {
    return be.rope({y, c.a, c.b, c.c, pos.data(), 10000.0f, 1.0f, c.flag});
  });
}

Outcome run_softmax(OpBackend& b, OpBackend& ref, const Case& c, std::mt19937& rng) {
  const auto x = gaussian(size_t(c.a * c.b), rng, 4.0f);
  std::vector<float> got(x), want(x);
  return both(b, ref, c, got, want, [&](OpBackend& be, float* y) {
    return be.softmax({y, c.a, c.b});
  });
}

Outcome run_elementwise(OpBackend& b, OpBackend& ref, const Case& c, std::mt19937& rng) {
  const auto x = gaussian(size_t(c.a), rng, 3.0f), y = gaussian(size_t(c.a), rng);
  std::vector<float> got(x.size()), want(x.size());
  return both(b, ref, c, got, want, [&](OpBackend& be, float* out) {
    return c.op == Op::kAdd ? be.add({x.data(), y.data(), out, c.a})
                            : be.silu_mul({x.data(), y.data(), out, c.a});
  });
}

// K/V rows of the case's type in a shuffled pool, as a paged cache holds them.
struct KvRows {
  std::vector<uint8_t> pool;
  std::vector<const void*> k, v;
};
KvRows kv_rows(DType t, int64_t keys, int64_t hd, std::mt19937& rng) {
  const size_t rb = hal::dtype_row_bytes(t, hd);
  KvRows kv;
  kv.pool.resize(size_t(2 * keys) * rb);
  const auto f = gaussian(size_t(2 * keys * hd), rng);
  for (int64_t i = 0; i < 2 * keys; ++i) {
    uint8_t* dst = kv.pool.data() + size_t(i) * rb;
    if (t == DType::kF16) {
      for (int64_t e = 0; e < hd; ++e) {
        const uint16_t h = hal::fp32_to_fp16(f[size_t(i * hd + e)]);
        std::memcpy(dst + 2 * e, &h, 2);
      }
    } else {
      hal::kernels_generic().of(t).from_float(f.data() + i * hd, dst, hd);
    }
  }
  std::vector<int64_t> order(size_t(2 * keys));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t j = 0; j < keys; ++j) {
    kv.k.push_back(kv.pool.data() + size_t(order[size_t(2 * j)]) * rb);
    kv.v.push_back(kv.pool.data() + size_t(order[size_t(2 * j + 1)]) * rb);
  }
  return kv;
}

Outcome run_attention(OpBackend& b, OpBackend& ref, const Case& c, std::mt19937& rng) {
  const int nq = int(c.a);
  const int64_t hd = c.b, keys = c.c;
  const KvRows kv = kv_rows(c.type, keys, hd, rng);
  const auto q = gaussian(size_t(nq * hd), rng);
  std::vector<const float*> qp;
  std::vector<int32_t> n_kv;
  for (int r = 0; r < nq; ++r) {
    qp.push_back(q.data() + r * hd);
    // The last row sees every key, the others a random prefix (causal rows of a chunk).
    n_kv.push_back(r == nq - 1 ? int32_t(keys) : int32_t(1 + rng() % uint32_t(keys)));
  }
  std::vector<float> got(size_t(nq * hd)), want(got.size());
  return both(b, ref, c, got, want, [&](OpBackend& be, float* out) {
    std::vector<float*> op;
    for (int r = 0; r < nq; ++r) op.push_back(out + r * hd);
    return be.attention({c.type, nq, hd, qp.data(), n_kv.data(), kv.k.data(), kv.v.data(),
                         1.0f / std::sqrt(float(hd)), op.data()});
  });
}

Outcome run_kv_store(OpBackend& b, OpBackend& ref, const Case& c, std::mt19937& rng) {
  const int64_t rows = c.a, n = c.b;
  const auto x = gaussian(size_t(rows * n), rng);
  const size_t bytes = size_t(rows) * hal::dtype_row_bytes(c.type, n);
  std::vector<uint8_t> got_q(bytes, 0xcd), want_q(bytes, 0xcd);
  if (Status s = ref.kv_store({c.type, x.data(), want_q.data(), rows, n}); !s.ok())
    return failed(c, ref, s);
  if (Status s = b.kv_store({c.type, x.data(), got_q.data(), rows, n}); !s.ok())
    return failed(c, b, s);
  return compare(c, decode(c.type, got_q.data(), rows, n), decode(c.type, want_q.data(), rows, n));
}

}  // namespace

std::string Case::name() const {
  char buf[160];
  const char* t = hal::dtype_name(type);
  switch (op) {
    case Op::kMatmul:
    case Op::kGetRows:
      std::snprintf(buf, sizeof buf, "%s %s k=%lld rows=%lld n=%lld", hal::op_name(op), t,
                    (long long)a, (long long)b, (long long)c);
      break;
    case Op::kRope:
      std::snprintf(buf, sizeof buf, "rope %s heads=%lld head_dim=%lld n_rot=%lld",
                    flag ? "neox" : "adjacent", (long long)a, (long long)b, (long long)c);
      break;
    case Op::kAttention:
      std::snprintf(buf, sizeof buf, "attention %s nq=%lld hd=%lld keys=%lld", t, (long long)a,
                    (long long)b, (long long)c);
      break;
    case Op::kSiluMul:
    case Op::kAdd:
      std::snprintf(buf, sizeof buf, "%s n=%lld", hal::op_name(op), (long long)a);
      break;
    default:
      std::snprintf(buf, sizeof buf, "%s %s rows=%lld n=%lld", hal::op_name(op), t, (long long)a,
                    (long long)b);
  }
  return buf;
}

std::vector<OpType> op_types() {
  std::vector<OpType> v;
  for (DType t : kMatmulTypes) v.push_back({Op::kMatmul, t});
  for (DType t : kMatmulTypes) v.push_back({Op::kGetRows, t});
  for (Op op : {Op::kRmsNorm, Op::kRope, Op::kSoftmax, Op::kSiluMul, Op::kAdd})
    v.push_back({op, DType::kF32});
  for (DType t : kKvTypes) v.push_back({Op::kAttention, t});
  for (DType t : kKvTypes) v.push_back({Op::kKvStore, t});
  return v;
}

std::vector<Case> cases(Op op, DType t) {
  std::vector<Case> v;
  uint32_t seed = 1000 * uint32_t(op) + uint32_t(t);
  auto add = [&](int64_t a, int64_t b, int64_t c, bool flag = false) {
    v.push_back({op, t, a, b, c, flag, ++seed});
  };
  switch (op) {
    case Op::kMatmul:
      // n 1 and 3 stream through the table's gemm, 6 and 12 take an unpacked tiled kernel
      // where there is one, 17 and 33 its panels or the unpacked one; 37 rows leave a
      // partial panel and uneven thread ranges.
      for (int64_t n : {1, 3, 6, 12, 17, 33}) add(weight_k(t), 37, n);
      add(weight_k(t), 1, 1);
      add(weight_k(t), 16, 8);
      break;
    case Op::kGetRows:
      add(weight_k(t), 23, 1);
      add(weight_k(t), 23, 7);
      break;
    case Op::kRope:
      for (bool neox : {false, true}) {
        add(1, 64, 64, neox);
        add(5, 128, 128, neox);
        add(3, 80, 32, neox);  // partial rotation: the rest passes through
      }
      break;
    case Op::kSiluMul:
    case Op::kAdd:
      for (int64_t n : {1, 17, 333, 4099}) add(n, 0, 0);
      break;
    case Op::kAttention:
      add(1, 64, 1);
      add(4, 64, 33);
      add(7, 96, 17);
      add(16, 128, 130);
      break;
    case Op::kKvStore:
      add(1, 32, 0);
      add(3, 64, 0);
      add(17, 128, 0);
      add(33, 96, 0);
      break;
    default:  // rms_norm, softmax: rows, n
      add(1, 1, 0);
      add(3, 17, 0);
      add(17, 333, 0);
      add(2, 4099, 0);
  }
  return v;
}

double nmse_bound(Op op, DType t) {
  switch (op) {
    // Summation order and FMA contraction differ between kernels; activations are
    // quantized by the same rule everywhere.
    case Op::kMatmul: return 1e-9;
    case Op::kGetRows: return 1e-12;
    case Op::kAttention: return t == DType::kF16 ? 1e-8 : 1e-9;
    // A fast quantizer may round a value that lies on a level's edge the other way.
    case Op::kKvStore: return 1e-9;
    default: return 1e-10;
  }
}

double nmse(const float* got, const float* want, size_t n) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(got[i]) - double(want[i]);
    err += d * d;
    ref += double(want[i]) * double(want[i]);
  }
  if (ref == 0) return err == 0 ? 0 : INFINITY;
  return err / ref;
}

Outcome run_case(OpBackend& backend, OpBackend& reference, const Case& c) {
  std::mt19937 rng(c.seed);
  switch (c.op) {
    case Op::kMatmul: return run_matmul(backend, reference, c, rng);
    case Op::kGetRows: return run_get_rows(backend, reference, c, rng);
    case Op::kRmsNorm: return run_rms_norm(backend, reference, c, rng);
    case Op::kRope: return run_rope(backend, reference, c, rng);
    case Op::kSoftmax: return run_softmax(backend, reference, c, rng);
    case Op::kSiluMul:
    case Op::kAdd: return run_elementwise(backend, reference, c, rng);
    case Op::kAttention: return run_attention(backend, reference, c, rng);
    case Op::kKvStore: return run_kv_store(backend, reference, c, rng);
  }
  Outcome o;
  o.message = c.name() + ": unknown op";
  return o;
}

}  // namespace airt::conformance
