// KvCache: the bookkeeping of the paged key/value cache. A fixed pool of fixed-size
// blocks (each holds `block` positions of K and V for every layer); each sequence keeps a
// table of the blocks it holds, oldest first. The cache speaks in block ids and byte
// offsets into the pool's storage, which the backend owns (host memory for the CPU, its
// own memory for a device): see KvStore.
//
// Precision: K and V are stored as f16, q8_0 or q4_0, chosen separately. Every block
// records the types it was written with, so the types for new blocks can change between
// tokens (the governor lowers precision under pressure) without touching old blocks. A
// block's bytes are sized for the types the pool was created with; a later type may
// only be as large or smaller.
//
// Sliding window: with window W and S sinks, the position p attends to positions
// [0, S) and (p - W, p]. Blocks that no later position can see go back to the pool when
// the sequence grows. Positions keep their RoPE positions; only the visible set changes.
//
// Ownership: the arena passed to carve() owns the tables and must outlive the cache.
// Nothing here allocates after carve().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "hal/dtype.h"
#include "runtime/core/arena.h"
#include "runtime/core/result.h"
#include "runtime/model/model.h"

namespace airt::model {

struct KvTypes {
  hal::DType k = hal::DType::kF16;
  hal::DType v = hal::DType::kF16;
  bool operator==(const KvTypes&) const = default;
};

// "f16", "q8_0", "q4_0" (both), or "k=q8_0,v=f16" (either may be left out: f16).
Result<KvTypes> kv_types_parse(std::string_view text);
// "f16" when both agree, else "k=q8_0,v=f16".
std::string kv_types_name(KvTypes t);
// Whether `t` can hold K or V here (f16, q8_0, q4_0).
bool kv_type_supported(hal::DType t);

struct KvParams {
  int32_t n_seq = 1;     // sequences (slots) the cache serves
  int32_t n_ctx = 2048;  // most positions one sequence holds without a window
  int32_t block = 16;    // positions per block
  KvTypes types;         // for new blocks; also sizes every block
  int32_t window = 0;    // default window of new sequences; 0: none (see set_window)
  int32_t sinks = 0;     // default sinks of new sequences
  int32_t n_step = 512;  // most positions one sequence appends in one step (a prefill chunk)
  int32_t n_blocks = 0;  // pool size; 0: every sequence's worst case (n_seq * blocks_per_seq())
};

// A block in a sequence's table: pool block `id` holds positions pos0 .. pos0+block-1.
struct KvBlockRef {
  int32_t id = -1;
  int32_t pos0 = 0;
};

// The storage of a KvCache's blocks, kept by a backend: bytes at offsets the cache gives
// (k_offset/v_offset). Sessions save and restore through it. Start-up and
// request-boundary code.
class KvStore {
 public:
  virtual ~KvStore() = default;
  virtual Status kv_read(size_t offset, void* dst, size_t bytes) const = 0;
  virtual Status kv_write(size_t offset, const void* src, size_t bytes) = 0;
};

class KvCache {
 public:
  // Validates params against the model (K/V rows of quantized types must be whole blocks).
  static Status check(const Hparams& hp, const KvParams& p);
  // Most blocks one sequence holds at once: its whole context, or with a window the sink
  // blocks plus the window and one step's positions.
  static int32_t blocks_per_seq(const KvParams& p);
  static int32_t pool_blocks(const KvParams& p);
  // Bytes of one block (all layers, K and V) for the pool's types.
  static size_t block_bytes(const Hparams& hp, const KvParams& p);
  // Arena bytes carve() takes for the tables, including 64-byte alignment padding.
  static size_t arena_bytes(const Hparams& hp, const KvParams& p);
  // Bytes of the block storage the backend keeps (every block of the pool).
  static size_t storage_bytes(const Hparams& hp, const KvParams& p);
  // K+V bytes one position costs (all layers) at types `t`.
  static size_t bytes_per_position(const Hparams& hp, KvTypes t);

  KvCache() = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Carves the pool and the tables from `arena`. Call once (check() first).
  Status carve(Arena& arena, const Hparams& hp, const KvParams& p);

  // Forgets every position of sequence s and returns its blocks to the pool.
  void seq_clear(int32_t s);
  // Keeps positions [0, n) of sequence s (n <= seq_pos(s)); the rest go back to the pool.
  void seq_truncate(int32_t s, int32_t n);
  // Makes room for positions seq_pos(s) .. seq_pos(s)+n-1 and returns the first: first
  // evicts blocks the window hides, then takes blocks from the pool. Errors, and nothing
  // changes: kRequestTooLarge when the sequence would exceed its context, kResourceExhausted
  // when the pool has too few free blocks.
  Result<int32_t> seq_append(int32_t s, int32_t n);
  // Next position of s (= positions written so far, counting evicted ones).
  int32_t seq_pos(int32_t s) const { return seqs_[s].n_pos; }
  // Positions s still holds (evicted blocks excluded).
  int32_t seq_held(int32_t s) const;
  std::span<const KvBlockRef> seq_blocks(int32_t s) const { return {seqs_[s].blocks, size_t(seqs_[s].n_blocks)}; }
  int32_t seq_window(int32_t s) const { return seqs_[s].window; }
  int32_t seq_sinks(int32_t s) const { return seqs_[s].sinks; }
  // Window and sinks for sequence s from its next append (0: no window). Widening a
  // window cannot bring back blocks already returned to the pool.
  void set_window(int32_t s, int32_t window, int32_t sinks);
  // Whether position j is visible from position p of sequence s.
  bool visible(int32_t s, int32_t p, int32_t j) const {
    const auto& q = seqs_[s];
    return j <= p && (q.window <= 0 || j < q.sinks || j > p - q.window);
  }

  // Precision of blocks taken from now on. Fails (nothing changes) for a type whose rows
  // are larger than the pool's blocks were sized for.
  Status set_types(KvTypes t);
  // Whether set_types(t) would succeed.
  Status check_types(KvTypes t) const;
  KvTypes types() const { return types_; }
  KvTypes pool_types() const { return pool_types_; }

  // Where K (or V) of `layer` lives in pool block `id`, as a byte offset into the
  // storage: `block` rows of k_row_bytes(id) (v_row_bytes(id)).
  size_t k_offset(int32_t id, int32_t layer) const { return size_t(id) * block_bytes_ + size_t(layer) * layer_bytes_; }
  size_t v_offset(int32_t id, int32_t layer) const { return k_offset(id, layer) + size_t(block_) * k_row_cap_; }
  size_t storage_bytes() const { return size_t(n_blocks_) * block_bytes_; }
  hal::DType k_type(int32_t id) const { return hal::DType(k_type_[id]); }
  hal::DType v_type(int32_t id) const { return hal::DType(v_type_[id]); }
  size_t k_row_bytes(int32_t id) const { return hal::dtype_row_bytes(k_type(id), kv_dim_); }
  size_t v_row_bytes(int32_t id) const { return hal::dtype_row_bytes(v_type(id), kv_dim_); }
  // The block of sequence s holding position pos (which must be held).
  const KvBlockRef& block_of(int32_t s, int32_t pos) const;

  int32_t block() const { return block_; }
  int32_t n_seq() const { return n_seq_; }
  int32_t n_ctx() const { return n_ctx_; }
  int32_t kv_dim() const { return kv_dim_; }
  int32_t n_layer() const { return n_layer_; }
  int32_t blocks_total() const { return n_blocks_; }
  int32_t blocks_free() const { return n_free_; }
  // Most blocks one sequence's table holds.
  int32_t seq_capacity() const { return seq_cap_; }

  // Restoring a saved sequence: takes a free block for position pos0 of an empty or
  // growing sequence s with the given types (fitting the pool) and sets seq_pos(s) to
  // `n_pos` when it is larger. Blocks must come in increasing pos0.
  Result<int32_t> seq_restore_block(int32_t s, int32_t pos0, KvTypes t, int32_t n_pos);

 private:
  struct Seq {
    KvBlockRef* blocks = nullptr;  // oldest first
    int32_t n_blocks = 0;
    int32_t n_pos = 0;
    int32_t window = 0;
    int32_t sinks = 0;
  };
  void release(int32_t id) { free_[n_free_++] = id; }
  // Blocks of s that no position >= from can see.
  void evict_hidden(int32_t s, int32_t from);

  uint8_t* k_type_ = nullptr;  // per block
  uint8_t* v_type_ = nullptr;
  int32_t* free_ = nullptr;    // stack of free block ids
  int32_t n_free_ = 0;
  Seq* seqs_ = nullptr;
  int32_t n_seq_ = 0;
  int32_t n_ctx_ = 0;
  int32_t block_ = 16;
  int32_t n_blocks_ = 0;
  int32_t seq_cap_ = 0;
  int32_t kv_dim_ = 0;
  int32_t n_layer_ = 0;
  size_t k_row_cap_ = 0;  // row bytes the pool's K type needs
  size_t v_row_cap_ = 0;
  size_t layer_bytes_ = 0;
  size_t block_bytes_ = 0;
  KvTypes types_;
  KvTypes pool_types_;
};

}  // namespace airt::model
