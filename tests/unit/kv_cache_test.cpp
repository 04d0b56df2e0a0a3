// The paged KV cache's bookkeeping: block tables, the pool, window eviction, precision.
#include <gtest/gtest.h>

#include "runtime/model/kv_cache.h"

namespace airt::model {
namespace {

Hparams small_hparams() {
  Hparams hp;
  hp.n_vocab = 16;
  hp.dim = 64;
  hp.n_layer = 2;
  hp.n_head = 4;
  hp.n_head_kv = 2;
  hp.head_dim = 16;
  hp.n_ff = 64;
  return hp;  // kv_dim 32
}

struct Fixture {
  Arena arena;
  KvCache kv;
  explicit Fixture(const KvParams& p) {
    Hparams hp = small_hparams();
    arena = std::move(Arena::reserve(KvCache::arena_bytes(hp, p)).value());
    Status s = kv.carve(arena, hp, p);
    EXPECT_TRUE(s.ok()) << s.error().message;
    EXPECT_LE(arena.used(), KvCache::arena_bytes(hp, p));
  }
};

TEST(KvTypes, ParsesOneOrBoth) {
  auto t = kv_types_parse("q8_0");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->k, hal::DType::kQ8_0);
  EXPECT_EQ(t->v, hal::DType::kQ8_0);
  t = kv_types_parse("k=q4_0,v=f16");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->k, hal::DType::kQ4_0);
  EXPECT_EQ(t->v, hal::DType::kF16);
  EXPECT_EQ(kv_types_name(*t), "k=q4_0,v=f16");
  t = kv_types_parse("v=q8_0");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->k, hal::DType::kF16);
  EXPECT_FALSE(kv_types_parse("q5_0").ok());
  EXPECT_FALSE(kv_types_parse("x=q8_0").ok());
  EXPECT_FALSE(kv_types_parse("k=").ok());
}

TEST(KvCache, RefusesQuantizedRowsThatAreNotWholeBlocks) {
  Hparams hp = small_hparams();
  hp.n_head_kv = 1;  // kv_dim 16: not a whole q8_0 block
  KvParams p;
  p.types = {hal::DType::kQ8_0, hal::DType::kF16};
  Status s = KvCache::check(hp, p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("use f16"), std::string::npos) << s.error().message;
  p.types = {};
  EXPECT_TRUE(KvCache::check(hp, p).ok());
}

TEST(KvCache, BytesPerPositionFollowTheTypes) {
  Hparams hp = small_hparams();
  EXPECT_EQ(KvCache::bytes_per_position(hp, {}), 2u * 2 * 32 * 2);  // layers x (K+V) x kv_dim x f16
  EXPECT_EQ(KvCache::bytes_per_position(hp, {hal::DType::kQ8_0, hal::DType::kQ8_0}), 2u * 2 * 34);
  EXPECT_EQ(KvCache::bytes_per_position(hp, {hal::DType::kQ4_0, hal::DType::kQ4_0}), 2u * 2 * 18);
}

TEST(KvCache, AppendTakesBlocksAndTruncateReturnsThem) {
  KvParams p;
  p.n_seq = 2;
  p.n_ctx = 64;
  p.block = 16;
  Fixture f(p);
  KvCache& kv = f.kv;
  EXPECT_EQ(kv.blocks_total(), 8);
  auto pos = kv.seq_append(0, 20);
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(*pos, 0);
  EXPECT_EQ(kv.seq_blocks(0).size(), 2u);
  EXPECT_EQ(kv.blocks_free(), 6);
  pos = kv.seq_append(0, 12);  // fills block 1 exactly
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(*pos, 20);
  EXPECT_EQ(kv.seq_blocks(0).size(), 2u);
  EXPECT_EQ(kv.block_of(0, 31).pos0, 16);
  EXPECT_EQ(kv.seq_held(0), 32);
  kv.seq_truncate(0, 10);
  EXPECT_EQ(kv.seq_pos(0), 10);
  EXPECT_EQ(kv.seq_blocks(0).size(), 1u);
  EXPECT_EQ(kv.blocks_free(), 7);
  // Past the context: an error, and nothing changes.
  auto too_long = kv.seq_append(0, 60);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, Error::kRequestTooLarge);
  EXPECT_EQ(kv.seq_pos(0), 10);
  kv.seq_clear(0);
  EXPECT_EQ(kv.blocks_free(), 8);
}

TEST(KvCache, FullPoolIsAnImmediateErrorThatChangesNothing) {
  KvParams p;
  p.n_seq = 2;
  p.n_ctx = 64;
  p.block = 16;
  p.n_blocks = 5;  // less than both sequences' worst case
  Fixture f(p);
  ASSERT_TRUE(f.kv.seq_append(0, 64).ok());
  auto r = f.kv.seq_append(1, 32);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::kResourceExhausted);
  EXPECT_NE(r.error().message.find("KV pool full"), std::string::npos);
  EXPECT_EQ(f.kv.seq_pos(1), 0);
  EXPECT_EQ(f.kv.blocks_free(), 1);
  EXPECT_TRUE(f.kv.seq_append(1, 16).ok());
}

TEST(KvCache, WindowEvictsHiddenBlocksAndKeepsSinks) {
  KvParams p;
  p.n_seq = 1;
  p.n_ctx = 1024;
  p.block = 4;
  p.window = 8;
  p.sinks = 2;
  p.n_step = 1;
  Fixture f(p);
  KvCache& kv = f.kv;
  // sinks: 1 block; window 8 + step 1: ceil(8/4) + 1 = 3 blocks more.
  EXPECT_EQ(kv.seq_capacity(), 1 + 2 + 1);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(kv.seq_append(0, 1).ok()) << i;
  EXPECT_EQ(kv.seq_pos(0), 100);
  auto blocks = kv.seq_blocks(0);
  ASSERT_GE(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].pos0, 0);  // the sink block stays
  // Every visible position of the next query (100) is held.
  for (int j = 0; j <= 99; ++j) {
    if (!kv.visible(0, 100, j)) continue;
    bool held = false;
    for (auto& b : blocks) held |= j >= b.pos0 && j < b.pos0 + 4;
    EXPECT_TRUE(held) << j;
  }
  EXPECT_TRUE(kv.visible(0, 100, 1));
  EXPECT_FALSE(kv.visible(0, 100, 2));
  EXPECT_FALSE(kv.visible(0, 100, 92));
  EXPECT_TRUE(kv.visible(0, 100, 93));
  EXPECT_LE(int(blocks.size()), kv.seq_capacity());
  // Turning the window off makes the sequence bounded by its table again.
  kv.set_window(0, 0, 0);
  int appended = 0;
  Result<int32_t> r = 0;
  while ((r = kv.seq_append(0, 1)).ok()) ++appended;
  EXPECT_EQ(r.error().code, Error::kRequestTooLarge);
  EXPECT_LE(appended, 4);
}

TEST(KvCache, NewBlocksTakeNewTypesOnlyWhenTheyFit) {
  KvParams p;
  p.n_seq = 1;
  p.n_ctx = 64;
  p.block = 8;
  p.types = {hal::DType::kQ8_0, hal::DType::kQ8_0};
  Fixture f(p);
  KvCache& kv = f.kv;
  ASSERT_TRUE(kv.seq_append(0, 8).ok());
  EXPECT_FALSE(kv.set_types({hal::DType::kF16, hal::DType::kQ8_0}).ok());  // larger than the pool's blocks
  ASSERT_TRUE(kv.set_types({hal::DType::kQ4_0, hal::DType::kQ8_0}).ok());
  ASSERT_TRUE(kv.seq_append(0, 8).ok());
  auto b = kv.seq_blocks(0);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(kv.k_type(b[0].id), hal::DType::kQ8_0);
  EXPECT_EQ(kv.k_type(b[1].id), hal::DType::kQ4_0);
  EXPECT_EQ(kv.v_type(b[1].id), hal::DType::kQ8_0);
}

}  // namespace
}  // namespace airt::model
