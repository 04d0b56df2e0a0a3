// The Vulkan ops as the forward pass strings them together: K/V rows stored by kv_store
// into a paged pool laid out like KvCache's (blocks of 16 positions, two layers, K then
// V per layer, blocks written at different precisions), then attention of a few query
// rows with grouped KV heads over that pool at layer 1, recorded once and replayed with a
// new query. Checked against the CPU reference kernels' attention over the same bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "hal/cpu/kernels.h"
#include "hal/dtype.h"
#include "hal/fp16.h"
#include "tests/support/test_support.h"

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/vulkan.h"

namespace airt::hal::vk {
namespace {

constexpr int kHd = 64, kHeads = 4, kKvHeads = 2, kKvDim = kKvHeads * kHd, kBlock = 16, kLayers = 2;
constexpr int kPositions = 40;  // three blocks: f16, q8_0, q4_0
const DType kBlockTypes[] = {DType::kF16, DType::kQ8_0, DType::kQ4_0};

// The pool's layout (as KvCache's): per block, per layer, kBlock K rows then kBlock V rows,
// each sized for the widest type (f16).
constexpr size_t kRowCap = kKvDim * 2, kLayerBytes = 2 * kBlock * kRowCap, kBlockBytes = kLayers * kLayerBytes;
size_t k_off(int pos, int layer) { return size_t(pos / kBlock) * kBlockBytes + layer * kLayerBytes + (pos % kBlock) * kRowCap; }
size_t v_off(int pos, int layer) { return k_off(pos, layer) + kBlock * kRowCap; }
DType type_of(int pos) { return kBlockTypes[pos / kBlock]; }

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

struct Row {
  int first, n;  // visible keys first .. first+n-1
};

// The CPU reference (runtime/model/forward_attention.cpp's row path): f16 keys against the
// query rounded to f16, quantized keys decoded to f32; softmax; V summed in f32.
std::vector<float> reference(const std::vector<uint8_t>& pool, const std::vector<float>& q, const std::vector<Row>& rows,
                             int layer) {
  const Kernels& k = kernels_generic();
  const float scale = 1.0f / std::sqrt(float(kHd));
  std::vector<float> out(q.size(), 0.0f), kf(kKvDim), vf(kKvDim);
  std::vector<uint16_t> q16(kHd);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int h = 0; h < kHeads; ++h) {
      const float* qh = q.data() + (r * kHeads + h) * kHd;
      k.f32_to_f16(qh, q16.data(), kHd);
      const int e0 = (h / (kHeads / kKvHeads)) * kHd;
      std::vector<float> s;
      for (int j = rows[r].first; j < rows[r].first + rows[r].n; ++j) {
        float d;
        if (type_of(j) == DType::kF16) {
          k.of(DType::kF16).vec_dot(kHd, &d, reinterpret_cast<const uint16_t*>(pool.data() + k_off(j, layer)) + e0, q16.data());
        } else {
          k.of(type_of(j)).to_float(pool.data() + k_off(j, layer), kf.data(), kKvDim);
          k.of(DType::kF32).vec_dot(kHd, &d, kf.data() + e0, qh);
        }
        s.push_back(d * scale);
      }
      k.softmax(s.data(), int64_t(s.size()));
      float* o = out.data() + (r * kHeads + h) * kHd;
      for (int j = rows[r].first; j < rows[r].first + rows[r].n; ++j) {
        k.of(type_of(j)).to_float(pool.data() + v_off(j, layer), vf.data(), kKvDim);
        k.axpy(kHd, s[size_t(j - rows[r].first)], vf.data() + e0, o);
      }
    }
  }
  return out;
}

// The device, the ops and the pool every step below shares.
class PagedAttention : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ctx = Context::create(kAnyDevice, kFeatureAll);
    if (!ctx.ok()) {
      auto devs = enumerate_devices();
      if (devs.ok() && devs->empty()) GTEST_SKIP() << "no Vulkan device";
      FAIL() << ctx.error().message;
    }
    ctx_ = std::move(*ctx);
    ops_ = std::make_unique<Ops>(*ctx_);
    auto rec = Recorder::create(*ctx_);
    ASSERT_TRUE(rec.ok());
    rec_ = std::move(*rec);
    pool_ = make(std::vector<uint8_t>(3 * kBlockBytes, 0xcd).data(), 3 * kBlockBytes, "kv pool");
  }

  Buffer make(const void* src, size_t bytes, const char* name, MemoryKind kind = MemoryKind::kDevice) {
    auto b = Buffer::create(*ctx_, bytes, kind, name);
    EXPECT_TRUE(b.ok()) << b.error().message;
    if (!b.ok()) return {};
    if (src) {
      EXPECT_TRUE(b->upload(0, src, bytes).ok());
    }
    return std::move(*b);
  }

  // K and V rows of every position for both layers, stored block by block, each block in
  // its type. Returns the pool's bytes as written.
  std::vector<uint8_t> store_pool() {
    const auto rows = gaussian(size_t(kLayers) * 2 * kPositions * kKvDim, 7);
    src_ = make(rows.data(), rows.size() * 4, "kv src");
    std::vector<uint32_t> dst;  // per (layer, K/V, block): its rows' offsets at layer 0
    offsets_ = make(nullptr, 4 * kLayers * 2 * kPositions, "offsets");
    EXPECT_TRUE(rec_.begin().ok());
    for (int l = 0; l < kLayers; ++l) {
      for (int kv = 0; kv < 2; ++kv) {
        for (int b = 0; b < 3; ++b) {
          const int p0 = b * kBlock, n = std::min(kPositions, p0 + kBlock) - p0;
          KvStoreRefs s;
          s.type = kBlockTypes[b];
          s.src = BufferRef(src_, ((size_t(l) * 2 + kv) * kPositions + p0) * kKvDim * 4);
          s.kv = pool_;
          s.layer_off = size_t(l) * kLayerBytes;
          s.dst = BufferRef(offsets_, dst.size() * 4);
          s.rows = n;
          s.n = kKvDim;
          EXPECT_TRUE(ops_->kv_store(rec_, s).ok());
          for (int p = p0; p < p0 + n; ++p) dst.push_back(uint32_t(kv ? v_off(p, 0) : k_off(p, 0)));
        }
      }
    }
    EXPECT_TRUE(offsets_.upload(0, dst.data(), dst.size() * 4).ok());
    EXPECT_TRUE(rec_.end().ok());
    EXPECT_TRUE(rec_.submit_and_wait().ok());
    std::vector<uint8_t> host(3 * kBlockBytes);
    EXPECT_TRUE(pool_.download(0, host.data(), host.size()).ok());
    return host;
  }

  // Records attention of `rows` at `layer` (every position's key in the table).
  void record_attention(const std::vector<Row>& rows, int layer) {
    std::vector<KvKey> keys;
    for (int p = 0; p < kPositions; ++p)
      keys.push_back({uint32_t(k_off(p, 0)), uint32_t(v_off(p, 0)), kv_key_types(type_of(p), type_of(p))});
    std::vector<uint32_t> words;
    for (const Row& r : rows) words.insert(words.end(), {uint32_t(r.first), uint32_t(r.n)});
    const size_t q_floats = rows.size() * kHeads * kHd;
    keys_ = make(keys.data(), keys.size() * sizeof(KvKey), "keys");
    rows_ = make(words.data(), words.size() * 4, "rows");
    q_ = make(nullptr, q_floats * 4, "q");
    out_ = make(nullptr, q_floats * 4, "out", MemoryKind::kHost);
    AttentionRefs a;
    a.q = q_;
    a.kv = pool_;
    a.layer_off = size_t(layer) * kLayerBytes;
    a.keys = keys_;
    a.n_keys = int64_t(keys.size());
    a.rows = rows_;
    a.out = out_;
    a.n_rows = int64_t(rows.size());
    a.n_head = kHeads;
    a.n_head_kv = kKvHeads;
    a.head_dim = kHd;
    a.scale = 1.0f / std::sqrt(float(kHd));
    ASSERT_TRUE(rec_.begin().ok());
    ASSERT_TRUE(ops_->attention(rec_, a).ok());
    ASSERT_TRUE(rec_.end().ok());
  }

  std::unique_ptr<Context> ctx_;
  std::unique_ptr<Ops> ops_;
  Recorder rec_;
  Buffer pool_, src_, offsets_, keys_, rows_, q_, out_;
};

TEST_F(PagedAttention, KvStoreThenAttentionReplays) {
  const std::vector<uint8_t> pool = store_pool();
  // Three causal rows of a prefill chunk and one row of a windowed sequence.
  const std::vector<Row> rows = {{0, 38}, {0, 39}, {0, 40}, {21, 19}};
  record_attention(rows, 1);
  const size_t q_floats = rows.size() * kHeads * kHd;
  // The f16 blocks go through the _f16 build where the device has fp16: the conformance
  // harness's bound for it (8 * 2^-22, see vulkan_conformance_test.cpp), else f32's.
  const double bound = ctx_->has(kFeatureFp16) ? 8.0 / (2048.0 * 2048.0) : 1e-9;
  for (uint32_t round = 0; round < 2; ++round) {
    const auto q = gaussian(q_floats, 100 + round);
    ASSERT_TRUE(q_.upload(0, q.data(), q.size() * 4).ok());
    ASSERT_TRUE(rec_.submit_and_wait().ok());
    std::vector<float> got(q_floats);
    ASSERT_TRUE(out_.download(0, got.data(), got.size() * 4).ok());
    const auto want = reference(pool, q, rows, 1);
    EXPECT_LT(test::nmse(got.data(), want.data(), got.size()), bound) << "round " << round;
  }
}

}  // namespace
}  // namespace airt::hal::vk

#else

TEST(VulkanOps, NotBuilt) { GTEST_SKIP() << "no Vulkan device (this build has AIRT_HAVE_VULKAN=0)"; }

#endif
