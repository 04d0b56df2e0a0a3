#include "runtime/model/kv_cache.h"

#include <algorithm>
#include <cstring>

namespace airt::model {
namespace {

Result<hal::DType> parse_one(std::string_view s) {
  if (s == "f16") return hal::DType::kF16;
  if (s == "q8_0") return hal::DType::kQ8_0;
  if (s == "q4_0") return hal::DType::kQ4_0;
  return errorf(Error::kRequestInvalid, "KV type '%.*s' is not one of f16, q8_0, q4_0", int(s.size()), s.data());
}

int32_t ceil_div(int64_t a, int64_t b) { return int32_t((a + b - 1) / b); }

}  // namespace

Result<KvTypes> kv_types_parse(std::string_view text) {
  KvTypes t;
  if (text.find('=') == std::string_view::npos) {
    t.k = t.v = AIRT_TRY(parse_one(text));
    return t;
  }
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.size() < 3 || item[1] != '=' || (item[0] != 'k' && item[0] != 'v')) {
      return errorf(Error::kRequestInvalid, "KV type item '%.*s' must read k=TYPE or v=TYPE", int(item.size()),
                    item.data());
    }
    hal::DType d = AIRT_TRY(parse_one(item.substr(2)));
    (item[0] == 'k' ? t.k : t.v) = d;
  }
  return t;
}

std::string kv_types_name(KvTypes t) {
  if (t.k == t.v) return hal::dtype_name(t.k);
  return std::string("k=") + hal::dtype_name(t.k) + ",v=" + hal::dtype_name(t.v);
}

bool kv_type_supported(hal::DType t) {
  return t == hal::DType::kF16 || t == hal::DType::kQ8_0 || t == hal::DType::kQ4_0;
}

Status KvCache::check(const Hparams& hp, const KvParams& p) {
  for (hal::DType t : {p.types.k, p.types.v}) {
    if (!kv_type_supported(t)) {
      return errorf(Error::kRequestInvalid, "KV type %s is not supported (f16, q8_0, q4_0)", hal::dtype_name(t));
    }
    int64_t bs = hal::dtype_info(t).block_size;
    if (hp.kv_dim() % bs != 0) {
      return errorf(Error::kRequestInvalid,
                    "KV type %s stores rows in blocks of %lld values; this model's K/V rows have %d (use f16)",
                    hal::dtype_name(t), (long long)bs, hp.kv_dim());
    }
  }
  if (p.block < 1 || p.block > 4096) {
    return errorf(Error::kRequestOutOfRange, "KV block of %d positions is out of range (1..4096)", p.block);
  }
  if (p.n_seq < 1 || p.n_ctx < 1 || p.n_step < 1) {
    return errorf(Error::kRequestOutOfRange, "KV cache needs >= 1 sequence, context and step (got %d, %d, %d)",
                  p.n_seq, p.n_ctx, p.n_step);
  }
  if (p.window < 0 || p.sinks < 0) {
    return errorf(Error::kRequestOutOfRange, "window %d and sinks %d must not be negative", p.window, p.sinks);
  }
  if (p.n_blocks < 0) return errorf(Error::kRequestOutOfRange, "KV pool of %d blocks is negative", p.n_blocks);
  return {};
}

int32_t KvCache::blocks_per_seq(const KvParams& p) {
  int32_t full = ceil_div(p.n_ctx, p.block);
  if (p.window <= 0) return full;
  // Sink blocks, plus the span a step's queries can see: W-1 before the first of n_step
  // new positions, straddling at most one more block boundary.
  int32_t windowed = ceil_div(p.sinks, p.block) + ceil_div(int64_t(p.window) + p.n_step - 1, p.block) + 1;
  return std::min(full, windowed);
}

int32_t KvCache::pool_blocks(const KvParams& p) {
  return p.n_blocks > 0 ? p.n_blocks : p.n_seq * blocks_per_seq(p);
}

size_t KvCache::block_bytes(const Hparams& hp, const KvParams& p) {
  return size_t(p.block) * size_t(hp.n_layer) *
         (hal::dtype_row_bytes(p.types.k, hp.kv_dim()) + hal::dtype_row_bytes(p.types.v, hp.kv_dim()));
}

size_t KvCache::bytes_per_position(const Hparams& hp, KvTypes t) {
  return size_t(hp.n_layer) * (hal::dtype_row_bytes(t.k, hp.kv_dim()) + hal::dtype_row_bytes(t.v, hp.kv_dim()));
}

size_t KvCache::arena_bytes(const Hparams&, const KvParams& p) {
  const size_t nb = size_t(pool_blocks(p));
  const size_t a = Arena::kDefaultAlign;
  return 2 * align_up(nb, a) + align_up(nb * sizeof(int32_t), a) +
         align_up(size_t(p.n_seq) * sizeof(Seq), a) +
         size_t(p.n_seq) * align_up(size_t(blocks_per_seq(p)) * sizeof(KvBlockRef), a);
}

size_t KvCache::storage_bytes(const Hparams& hp, const KvParams& p) {
  return size_t(pool_blocks(p)) * block_bytes(hp, p);
}

Status KvCache::carve(Arena& arena, const Hparams& hp, const KvParams& p) {
  AIRT_TRY(check(hp, p));
  n_seq_ = p.n_seq;
  n_ctx_ = p.n_ctx;
  block_ = p.block;
  n_blocks_ = pool_blocks(p);
  seq_cap_ = blocks_per_seq(p);
  kv_dim_ = hp.kv_dim();
  n_layer_ = hp.n_layer;
  types_ = pool_types_ = p.types;
  k_row_cap_ = hal::dtype_row_bytes(p.types.k, kv_dim_);
  v_row_cap_ = hal::dtype_row_bytes(p.types.v, kv_dim_);
  layer_bytes_ = size_t(block_) * (k_row_cap_ + v_row_cap_);
  block_bytes_ = layer_bytes_ * size_t(n_layer_);
  k_type_ = arena.alloc_array<uint8_t>(size_t(n_blocks_)).data();
  v_type_ = arena.alloc_array<uint8_t>(size_t(n_blocks_)).data();
  free_ = arena.alloc_array<int32_t>(size_t(n_blocks_)).data();
  seqs_ = arena.alloc_array<Seq>(size_t(n_seq_)).data();
  if (!k_type_ || !v_type_ || !free_ || !seqs_) {
    return errorf(Error::kInternal, "KV cache: the arena (%zu of %zu bytes used) is smaller than its plan",
                  arena.used(), arena.capacity());
  }
  for (int32_t s = 0; s < n_seq_; ++s) {
    seqs_[s] = Seq{};
    seqs_[s].blocks = arena.alloc_array<KvBlockRef>(size_t(seq_cap_)).data();
    if (!seqs_[s].blocks) return errorf(Error::kInternal, "KV cache: the arena is smaller than its plan");
    seqs_[s].window = p.window;
    seqs_[s].sinks = p.sinks;
  }
  // Highest id on the bottom, so blocks are handed out in increasing order.
  n_free_ = 0;
  for (int32_t b = n_blocks_ - 1; b >= 0; --b) release(b);
  return {};
}

void KvCache::seq_clear(int32_t s) { seq_truncate(s, 0); }

void KvCache::seq_truncate(int32_t s, int32_t n) {
  Seq& q = seqs_[s];
  n = std::clamp(n, 0, q.n_pos);
  while (q.n_blocks > 0 && q.blocks[q.n_blocks - 1].pos0 >= n) release(q.blocks[--q.n_blocks].id);
  q.n_pos = n;
}

int32_t KvCache::seq_held(int32_t s) const {
  const Seq& q = seqs_[s];
  int32_t held = 0;
  for (int32_t i = 0; i < q.n_blocks; ++i) held += std::min(block_, q.n_pos - q.blocks[i].pos0);
  return held;
}

void KvCache::set_window(int32_t s, int32_t window, int32_t sinks) {
  seqs_[s].window = std::max(0, window);
  seqs_[s].sinks = std::max(0, sinks);
}

void KvCache::evict_hidden(int32_t s, int32_t from) {
  Seq& q = seqs_[s];
  if (q.window <= 0) return;
  int32_t kept = 0;
  for (int32_t i = 0; i < q.n_blocks; ++i) {
    const KvBlockRef& b = q.blocks[i];
    // Hidden from every p >= from: no sink position in it and its last position <= from - W.
    bool hidden = b.pos0 >= q.sinks && int64_t(b.pos0) + block_ - 1 <= int64_t(from) - q.window;
    if (hidden) release(b.id);
    else q.blocks[kept++] = b;
  }
  q.n_blocks = kept;
}

Result<int32_t> KvCache::seq_append(int32_t s, int32_t n) {
  Seq& q = seqs_[s];
  const int32_t pos0 = q.n_pos;
  if (n < 1) return errorf(Error::kRequestOutOfRange, "KV append of %d positions", n);
  if (q.window <= 0 && int64_t(pos0) + n > n_ctx_) {
    return errorf(Error::kRequestTooLarge, "%d cached + %d new positions exceed the context of %d", pos0, n, n_ctx_);
  }
  if (int64_t(pos0) + n > INT32_MAX - block_) {
    return errorf(Error::kRequestTooLarge, "sequence position %d + %d overflows", pos0, n);
  }
  // Blocks the new positions need beyond the last one held.
  const int32_t have_end = q.n_blocks > 0 ? q.blocks[q.n_blocks - 1].pos0 + block_ : 0;
  const int32_t first_new = std::max(have_end, (pos0 / block_) * block_);
  const int32_t end = pos0 + n;
  const int32_t need = end > first_new ? ceil_div(end - first_new, block_) : 0;
  // Count what the window would free before touching anything, so a failure changes nothing.
  int32_t freed = 0;
  if (q.window > 0) {
    for (int32_t i = 0; i < q.n_blocks; ++i) {
      const KvBlockRef& b = q.blocks[i];
      if (b.pos0 >= q.sinks && int64_t(b.pos0) + block_ - 1 <= int64_t(pos0) - q.window) ++freed;
    }
  }
  if (q.n_blocks - freed + need > seq_cap_) {
    return errorf(Error::kRequestTooLarge,
                  "sequence holds %d blocks and needs %d more, beyond its table of %d blocks of %d positions "
                  "(raise --ctx or --window for the plan)",
                  q.n_blocks - freed, need, seq_cap_, block_);
  }
  if (need > n_free_ + freed) {
    return errorf(Error::kResourceExhausted, "KV pool full: %d blocks needed, %d free of %d", need, n_free_ + freed,
                  n_blocks_);
  }
  evict_hidden(s, pos0);
  for (int32_t i = 0; i < need; ++i) {
    int32_t id = free_[--n_free_];
    k_type_[id] = uint8_t(types_.k);
    v_type_[id] = uint8_t(types_.v);
    q.blocks[q.n_blocks++] = {id, first_new + i * block_};
  }
  q.n_pos = end;
  return pos0;
}

const KvBlockRef& KvCache::block_of(int32_t s, int32_t pos) const {
  const Seq& q = seqs_[s];
  // New positions live in the last blocks; search from the back.
  int32_t i = q.n_blocks - 1;
  while (i > 0 && q.blocks[i].pos0 > pos) --i;
  AIRT_DCHECK(i >= 0 && pos >= q.blocks[i].pos0 && pos < q.blocks[i].pos0 + block_);
  return q.blocks[i];
}

Status KvCache::set_types(KvTypes t) {
  AIRT_TRY(check_types(t));
  types_ = t;
  return {};
}

Status KvCache::check_types(KvTypes t) const {
  for (hal::DType d : {t.k, t.v}) {
    if (!kv_type_supported(d) || kv_dim_ % int32_t(hal::dtype_info(d).block_size) != 0) {
      return errorf(Error::kRequestInvalid, "KV type %s cannot hold this model's rows (%d values)",
                    hal::dtype_name(d), kv_dim_);
    }
  }
  if (hal::dtype_row_bytes(t.k, kv_dim_) > k_row_cap_ || hal::dtype_row_bytes(t.v, kv_dim_) > v_row_cap_) {
    return errorf(Error::kRequestInvalid, "KV types %s need larger blocks than the pool's %s (plan with the larger type)",
                  kv_types_name(t).c_str(), kv_types_name(pool_types_).c_str());
  }
  return {};
}

Result<int32_t> KvCache::seq_restore_block(int32_t s, int32_t pos0, KvTypes t, int32_t n_pos) {
  Seq& q = seqs_[s];
  if (pos0 % block_ != 0 || (q.n_blocks > 0 && q.blocks[q.n_blocks - 1].pos0 >= pos0) || n_pos <= pos0) {
    return errorf(Error::kFormatInvalid, "KV block at position %d is out of order", pos0);
  }
  if (hal::dtype_row_bytes(t.k, kv_dim_) > k_row_cap_ || hal::dtype_row_bytes(t.v, kv_dim_) > v_row_cap_) {
    return errorf(Error::kFormatInvalid, "KV block types %s do not fit the pool's %s", kv_types_name(t).c_str(),
                  kv_types_name(pool_types_).c_str());
  }
  if (q.n_blocks >= seq_cap_) {
    return errorf(Error::kRequestTooLarge, "saved sequence holds more than %d blocks of %d positions (raise --ctx)",
                  seq_cap_, block_);
  }
  if (q.window <= 0 && n_pos > n_ctx_) {
    return errorf(Error::kRequestTooLarge, "saved sequence of %d positions exceeds the context of %d", n_pos, n_ctx_);
  }
  if (n_free_ == 0) return errorf(Error::kResourceExhausted, "KV pool full while restoring a sequence");
  int32_t id = free_[--n_free_];
  k_type_[id] = uint8_t(t.k);
  v_type_[id] = uint8_t(t.v);
  q.blocks[q.n_blocks++] = {id, pos0};
  q.n_pos = std::max(q.n_pos, n_pos);
  return id;
}

}  // namespace airt::model
