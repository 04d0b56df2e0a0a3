#include "runtime/engine/session.h"

#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "runtime/core/file.h"

namespace airt::engine {
namespace {

constexpr char kMagic[8] = {'A', 'I', 'R', 'T', 'S', 'E', 'S', 'S'};
constexpr uint32_t kVersion = 1;
// A payload larger than this is not a session this program wrote.
constexpr unsigned long long kMaxPayload = 1ull << 36;

struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  template <class T>
  void add(const T& v) {
    add(&v, sizeof v);
  }
};

void put(std::string& out, const void* p, size_t n) {
  if (n) out.append(static_cast<const char*>(p), n);
}
template <class T>
void put(std::string& out, T v) {
  put(out, &v, sizeof v);
}

// Bounds-checked reading of the payload; every failure is the same "damaged" error.
struct Reader {
  const std::string& data;
  size_t at = 0;
  bool ok = true;
  template <class T>
  T get() {
    T v{};
    take(&v, sizeof v);
    return v;
  }
  void take(void* dst, size_t n) {
    if (!ok || n > data.size() - at) {
      ok = false;
      return;
    }
    if (n == 0) return;  // an empty list: dst may be null, which memcpy must not see
    std::memcpy(dst, data.data() + at, n);
    at += n;
  }
  bool skip(size_t n) {
    if (!ok || n > data.size() - at) return ok = false;
    at += n;
    return true;
  }
};

struct Header {
  uint64_t fingerprint;
  int32_t n_layer, kv_dim, n_vocab, block;
  uint8_t pool_k, pool_v;
  int32_t window, sinks, n_pos, n_tokens;
  uint8_t has_logits;
  int32_t n_blocks;
};

}  // namespace

uint64_t model_fingerprint(const model::Model& m) {
  const model::Hparams& hp = m.hparams();
  Fnv f;
  f.add(hp.arch.data(), hp.arch.size());
  for (int32_t v : {hp.n_vocab, hp.dim, hp.n_layer, hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_ff, hp.n_rot}) f.add(v);
  for (float v : {hp.rope_base, hp.rope_scale, hp.rms_eps}) f.add(v);
  auto tensor = [&](const model::WeightTensor& t, bool sample) {
    f.add(t.name.data(), t.name.size());
    f.add(uint32_t(t.type));
    f.add(t.cols);
    f.add(t.rows);
    // A sample of the data tells apart two files of the same shape (fine-tunes).
    if (sample && t.data) f.add(t.data, std::min<size_t>(4096, t.row_bytes * size_t(std::max<int64_t>(t.rows, 1))));
  };
  const model::Weights& w = m.weights();
  tensor(w.token_embd, true);
  tensor(w.output_norm, true);
  tensor(w.output, false);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const model::LayerWeights& L = w.layers[l];
    const bool last = l + 1 == w.layers.size();
    for (const model::WeightTensor* t : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_norm, &L.w_gate, &L.w_up,
                                         &L.w_down})
      tensor(*t, last);
  }
  return f.h;
}

// Appends `bytes` of the store at `offset` to the payload.
Status put_rows(std::string& payload, const model::KvStore& store, size_t offset, size_t bytes) {
  const size_t at = payload.size();
  payload.resize(at + bytes);
  return store.kv_read(offset, payload.data() + at, bytes);
}

Status session_save(const std::string& path, const model::Model& m, const model::KvCache& kv,
                    const model::KvStore& store, int32_t seq, std::span<const int32_t> tokens,
                    std::span<const float> logits) {
  const model::Hparams& hp = m.hparams();
  const int32_t n_pos = kv.seq_pos(seq);
  if (int64_t(tokens.size()) < n_pos) {
    return errorf(Error::kRequestInvalid, "%s: session has %d positions but only %zu tokens were kept", path.c_str(),
                  n_pos, tokens.size());
  }
  if (!logits.empty() && logits.size() != size_t(hp.n_vocab)) {
    return errorf(Error::kInternal, "%s: %zu logits, expected %d", path.c_str(), logits.size(), hp.n_vocab);
  }
  // Tokens after the last position (at most the one sampled last) are evaluated on resume.
  const int32_t n_tokens = std::min(int32_t(tokens.size()), n_pos + 1);
  auto blocks = kv.seq_blocks(seq);
  std::string payload;
  Header h{model_fingerprint(m), hp.n_layer,  hp.kv_dim(), hp.n_vocab, kv.block(),
           uint8_t(kv.pool_types().k), uint8_t(kv.pool_types().v), kv.seq_window(seq), kv.seq_sinks(seq), n_pos,
           n_tokens, uint8_t(!logits.empty() && n_tokens == n_pos), int32_t(blocks.size())};
  put(payload, h.fingerprint);
  for (int32_t v : {h.n_layer, h.kv_dim, h.n_vocab, h.block}) put(payload, v);
  put(payload, h.pool_k);
  put(payload, h.pool_v);
  for (int32_t v : {h.window, h.sinks, h.n_pos, h.n_tokens}) put(payload, v);
  put(payload, h.has_logits);
  put(payload, h.n_blocks);
  put(payload, tokens.data(), size_t(n_tokens) * sizeof(int32_t));
  if (h.has_logits) put(payload, logits.data(), logits.size_bytes());
  for (const model::KvBlockRef& b : blocks) {
    const int32_t rows = std::min(kv.block(), n_pos - b.pos0);
    put(payload, b.pos0);
    put(payload, rows);
    put(payload, uint8_t(kv.k_type(b.id)));
    put(payload, uint8_t(kv.v_type(b.id)));
    for (int32_t l = 0; l < hp.n_layer; ++l) {
      AIRT_TRY(put_rows(payload, store, kv.k_offset(b.id, l), size_t(rows) * kv.k_row_bytes(b.id)));
      AIRT_TRY(put_rows(payload, store, kv.v_offset(b.id, l), size_t(rows) * kv.v_row_bytes(b.id)));
    }
  }

  std::string file(kMagic, sizeof kMagic);
  put(file, kVersion);
  const size_t head = file.size();
  file.resize(head + ZSTD_compressBound(payload.size()));
  ZSTD_CCtx* cc = ZSTD_createCCtx();
  if (!cc) return errorf(Error::kResourceOutOfMemory, "%s: cannot create a zstd context", path.c_str());
  ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
  ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
  size_t n = ZSTD_compress2(cc, file.data() + head, file.size() - head, payload.data(), payload.size());
  ZSTD_freeCCtx(cc);
  if (ZSTD_isError(n)) return errorf(Error::kInternal, "%s: zstd: %s", path.c_str(), ZSTD_getErrorName(n));
  file.resize(head + n);
  return write_file_atomic(path, file);
}

namespace {

// The most payload bytes a session the cache can hold takes: header, tokens, logits and
// every block the sequence's table has room for, at the pool's types.
size_t max_payload(const model::Model& m, const model::KvCache& kv) {
  const model::Hparams& hp = m.hparams();
  const size_t per_block = 16 + size_t(kv.block()) * model::KvCache::bytes_per_position(hp, kv.pool_types());
  return 1024 + (size_t(kv.n_ctx()) + 1) * sizeof(int32_t) + size_t(hp.n_vocab) * sizeof(float) +
         size_t(kv.seq_capacity()) * per_block;
}

// The zstd payload of a session file, after its magic and version are checked; a frame
// that says it holds more than `limit` bytes is refused before anything is allocated.
Result<std::string> read_payload(const std::string& path, size_t limit) {
  std::string file = AIRT_TRY(read_file(path));
  const size_t head = sizeof kMagic + sizeof(uint32_t);
  if (file.size() < head || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    return errorf(Error::kFormatBadMagic, "%s: not an airt session file", path.c_str());
  }
  uint32_t version;
  std::memcpy(&version, file.data() + sizeof kMagic, sizeof version);
  if (version != kVersion) {
    return errorf(Error::kFormatBadVersion, "%s: session version %u, this build reads %u", path.c_str(), version,
                  kVersion);
  }
  unsigned long long size = ZSTD_getFrameContentSize(file.data() + head, file.size() - head);
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxPayload) {
    return errorf(Error::kFormatInvalid, "%s: session file is damaged (bad compressed frame)", path.c_str());
  }
  if (size > limit) {
    return errorf(Error::kFormatInvalid, "%s: session file is damaged (%llu bytes, more than a session of this "
                  "context holds)", path.c_str(), size);
  }
  std::string data(size_t(size), '\0');
  size_t got = ZSTD_decompress(data.data(), data.size(), file.data() + head, file.size() - head);
  if (ZSTD_isError(got) || got != size) {
    return errorf(Error::kFormatInvalid, "%s: session file is damaged (%s)", path.c_str(),
                  ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
  }
  return data;
}

Header read_header(Reader& r) {
  Header h{};
  h.fingerprint = r.get<uint64_t>();
  h.n_layer = r.get<int32_t>();
  h.kv_dim = r.get<int32_t>();
  h.n_vocab = r.get<int32_t>();
  h.block = r.get<int32_t>();
  h.pool_k = r.get<uint8_t>();
  h.pool_v = r.get<uint8_t>();
  h.window = r.get<int32_t>();
  h.sinks = r.get<int32_t>();
  h.n_pos = r.get<int32_t>();
  h.n_tokens = r.get<int32_t>();
  h.has_logits = r.get<uint8_t>();
  h.n_blocks = r.get<int32_t>();
  return h;
}

ErrorInfo damaged(const std::string& path, const char* what) {
  return errorf(Error::kFormatInvalid, "%s: session file is damaged (%s)", path.c_str(), what);
}

// Whether the file was saved by this model with the cache's geometry, and is consistent.
Status check_header(const Header& h, const std::string& path, const model::Model& m, const model::KvCache& kv) {
  const model::Hparams& hp = m.hparams();
  if (h.fingerprint != model_fingerprint(m) || h.n_layer != hp.n_layer || h.kv_dim != hp.kv_dim() ||
      h.n_vocab != hp.n_vocab) {
    return errorf(Error::kRequestInvalid, "%s: session was saved with another model than %s (remove it to start over)",
                  path.c_str(), m.file().path().c_str());
  }
  const model::KvTypes saved{hal::DType(h.pool_k), hal::DType(h.pool_v)};
  if (!model::kv_type_supported(saved.k) || !model::kv_type_supported(saved.v)) return damaged(path, "KV type");
  if (!(saved == kv.pool_types())) {
    return errorf(Error::kRequestInvalid, "%s: session holds KV type %s, this run uses %s (--kv-type %s)",
                  path.c_str(), model::kv_types_name(saved).c_str(), model::kv_types_name(kv.pool_types()).c_str(),
                  model::kv_types_name(saved).c_str());
  }
  if (h.block != kv.block()) {
    return errorf(Error::kRequestInvalid, "%s: session uses KV blocks of %d positions, this run %d (--kv-block %d)",
                  path.c_str(), h.block, kv.block(), h.block);
  }
  if (h.n_pos < 0 || h.n_tokens < h.n_pos || h.n_tokens > h.n_pos + 1 || h.n_blocks < 0 || h.n_blocks > h.n_pos ||
      h.window < 0 || h.sinks < 0) {
    return damaged(path, "inconsistent header");
  }
  return {};
}

// The blocks' headers; their data stays in the payload at each block's offset.
Status read_blocks(Reader& r, const Header& h, const model::Hparams& hp, const std::string& path,
                   std::vector<Session::Block>& blocks) {
  int32_t prev = -1;
  for (int32_t i = 0; i < h.n_blocks; ++i) {
    Session::Block b{};
    b.pos0 = r.get<int32_t>();
    b.rows = r.get<int32_t>();
    b.types.k = hal::DType(r.get<uint8_t>());
    b.types.v = hal::DType(r.get<uint8_t>());
    if (!r.ok) return damaged(path, "short block header");
    if (b.pos0 <= prev || b.pos0 % h.block != 0 || b.rows < 1 || b.rows > h.block || b.pos0 > h.n_pos - b.rows) {
      return damaged(path, "block out of order");
    }
    if (!model::kv_type_supported(b.types.k) || !model::kv_type_supported(b.types.v)) return damaged(path, "block type");
    prev = b.pos0;
    b.offset = r.at;
    const size_t per_layer = size_t(b.rows) * (hal::dtype_row_bytes(b.types.k, hp.kv_dim()) +
                                               hal::dtype_row_bytes(b.types.v, hp.kv_dim()));
    if (!r.skip(per_layer * size_t(hp.n_layer))) return damaged(path, "short block data");
    blocks.push_back(b);
  }
  if (r.at != r.data.size()) return damaged(path, "trailing bytes");
  return {};
}

}  // namespace

Result<Session> Session::read(const std::string& path, const model::Model& m, const model::KvCache& kv) {
  const model::Hparams& hp = m.hparams();
  Session s;
  s.path_ = path;
  s.data_ = AIRT_TRY(read_payload(path, max_payload(m, kv)));
  Reader r{s.data_};
  const Header h = read_header(r);
  if (!r.ok) return damaged(path, "short header");
  AIRT_TRY(check_header(h, path, m, kv));
  s.window_ = h.window;
  s.sinks_ = h.sinks;
  s.n_pos_ = h.n_pos;
  // Sizes come from the file: check them against what is there before allocating.
  const size_t list_bytes =
      size_t(h.n_tokens) * sizeof(int32_t) + (h.has_logits ? size_t(hp.n_vocab) * sizeof(float) : 0);
  if (list_bytes > s.data_.size() - r.at) return damaged(path, "short token list");
  s.tokens_.resize(size_t(h.n_tokens));
  r.take(s.tokens_.data(), s.tokens_.size() * sizeof(int32_t));
  if (h.has_logits) {
    s.logits_.resize(size_t(hp.n_vocab));
    r.take(s.logits_.data(), s.logits_.size() * sizeof(float));
  }
  if (!r.ok) return damaged(path, "short token list");
  for (int32_t t : s.tokens_)
    if (t < 0 || t >= hp.n_vocab) return damaged(path, "token id outside the vocabulary");
  AIRT_TRY(read_blocks(r, h, hp, path, s.blocks_));
  return s;
}

Status Session::restore(model::KvCache& kv, model::KvStore& store, int32_t seq, int32_t n) const {
  if (kv.seq_pos(seq) != 0) return errorf(Error::kInternal, "session restore into a sequence that is not empty");
  if (n < 0 || n > n_pos_) return errorf(Error::kRequestOutOfRange, "restore of %d of %d positions", n, n_pos_);
  for (const Block& b : blocks_) {
    if (b.pos0 >= n) break;
    const int32_t rows = std::min(b.rows, n - b.pos0);
    auto id = kv.seq_restore_block(seq, b.pos0, b.types, n);
    if (!id.ok()) {
      kv.seq_clear(seq);
      return errorf(id.error().code, "%s: %s", path_.c_str(), id.error().message.c_str());
    }
    const size_t kb = hal::dtype_row_bytes(b.types.k, kv.kv_dim()), vb = hal::dtype_row_bytes(b.types.v, kv.kv_dim());
    const char* src = data_.data() + b.offset;
    for (int32_t l = 0; l < kv.n_layer(); ++l) {
      Status st = store.kv_write(kv.k_offset(*id, l), src, size_t(rows) * kb);
      if (st.ok()) st = store.kv_write(kv.v_offset(*id, l), src + size_t(b.rows) * kb, size_t(rows) * vb);
      if (!st.ok()) {
        kv.seq_clear(seq);
        return st;
      }
      src += size_t(b.rows) * (kb + vb);
    }
  }
  // The block of the last restored position must be there: the window never drops it
  // while the sequence runs, but a restore of fewer positions may land in a dropped one.
  auto held = kv.seq_blocks(seq);
  if (n > 0 && (held.empty() || held.back().pos0 + kv.block() < n)) {
    kv.seq_clear(seq);
    return errorf(Error::kRequestInvalid, "%s: cannot resume at position %d: the window had dropped its KV",
                  path_.c_str(), n);
  }
  return {};
}

}  // namespace airt::engine
