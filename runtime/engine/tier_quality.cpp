// Tier quality: perplexity per weight tier, cached beside the model.
#include "runtime/engine/tier_quality.h"

#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace airt::engine {

namespace {

// Plain prose written for this purpose: simple words most vocabularies split well.
constexpr std::string_view kDefaultText =
    "Once upon a time, in a small town near the sea, there lived a girl named Mia. Every morning she walked to "
    "the beach with her dog, Max. They liked to look for shells and watch the boats go by. One day, Mia found a "
    "big blue shell under a rock. It was the most beautiful shell she had ever seen. She showed it to her mom, "
    "who smiled and said, \"That is a very special shell. Keep it safe.\" Mia put the shell on the table next "
    "to her bed. That night, she heard a soft sound coming from the shell. It sounded like the waves of the "
    "sea. Mia was not scared. She held the shell close to her ear and listened until she fell asleep. The next "
    "day, she told her friend Tom about the shell. Tom did not believe her, so Mia let him listen too. His eyes "
    "grew wide. \"I can hear the sea!\" he said. The two friends laughed and ran to the beach to find more "
    "shells. They looked all day, but they did not find another one like it. When the sun went down, they sat "
    "on the sand and watched the sky turn pink and orange. Mia knew that some things are special because there "
    "is only one of them.\n";

constexpr const char* kCacheSuffix = ".airt-quality.json";
constexpr int32_t kMaxChunk = 256;

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string base_name(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// Sums the negative log-likelihood of each position's next token over one chunk.
struct NllSink : Sink {
  std::span<const int32_t> chunk;
  double nll = 0;
  int32_t count = 0;
  ErrorInfo error;
  bool failed = false;
  void on_logits(Ticket, int32_t pos, std::span<const float> row) override {
    if (pos + 1 >= int32_t(chunk.size())) return;
    float mx = row[0];
    for (float v : row) mx = std::max(mx, v);
    double sum = 0;
    for (float v : row) sum += std::exp(double(v) - mx);
    nll -= double(row[size_t(chunk[size_t(pos) + 1])]) - mx - std::log(sum);
    ++count;
  }
  void on_token(Ticket, int32_t, std::string_view) override {}
  void on_finish(Ticket, const Finish&) override {}
  void on_error(Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

// Perplexity of `ids` on the engine's current tier, in chunks of `chunk` tokens.
Result<TierQuality> score(Engine& e, const std::vector<int32_t>& ids, int32_t chunk) {
  NllSink sink;
  for (size_t at = 0; at + 1 < ids.size(); at += size_t(chunk)) {
    sink.chunk = std::span<const int32_t>(ids).subspan(at, std::min(ids.size() - at, size_t(chunk)));
    if (sink.chunk.size() < 2) break;
    Request r;
    r.prompt_tokens = sink.chunk;
    r.prompt_only = true;
    r.logits_all = true;
    AIRT_TRY(e.submit(Ticket(at + 1), r));
    while (e.step(sink)) {
    }
    if (sink.failed) return sink.error;
  }
  if (sink.count == 0) return errorf(Error::kRequestInvalid, "tier quality: the text has fewer than 2 tokens");
  TierQuality q;
  q.perplexity = std::exp(sink.nll / sink.count);
  q.tokens = sink.count;
  return q;
}

// The cached entry at `path` when its key is `key`.
bool read_cache(const std::string& path, const TierQualityKey& key, TierQuality& q) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  unsigned long long size = 0, hash = 0;
  long long mtime = 0;
  int tokens = 0;
  double ppl = 0;
  if (std::sscanf(ss.str().c_str(),
                  "{\"size\": %llu, \"mtime_ns\": %lld, \"text_hash\": \"%llx\", \"tokens\": %d, \"perplexity\": %lf}",
                  &size, &mtime, &hash, &tokens, &ppl) != 5) {
    return false;
  }
  if (size != key.size || mtime != key.mtime_ns || hash != key.text_hash || !(ppl > 0)) return false;
  q.perplexity = ppl;
  q.tokens = tokens;
  q.cached = true;
  return true;
}

// Whether the folder of `path` is meant to take new files: its mode has a write bit.
// Checked by mode, not by trying, so that a folder made read-only for everyone stays
// untouched by a root process too (root may write regardless of the bits).
bool folder_writable(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && (st.st_mode & 0222) != 0;
}

bool write_cache(const std::string& path, const TierQualityKey& key, const TierQuality& q) {
  if (!folder_writable(path)) return false;
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return false;
  const int n = std::fprintf(f,
                             "{\"size\": %" PRIu64 ", \"mtime_ns\": %" PRId64 ", \"text_hash\": \"%016" PRIx64
                             "\", \"tokens\": %d, \"perplexity\": %.6f}\n",
                             key.size, key.mtime_ns, key.text_hash, q.tokens, q.perplexity);
  const bool ok = std::fclose(f) == 0 && n > 0;
  if (ok && std::rename(tmp.c_str(), path.c_str()) == 0) return true;
  std::remove(tmp.c_str());
  return false;
}

// The tier's quality from the cache beside it or in state_dir, else measured and cached.
Result<TierQuality> tier_quality(Engine& e, int32_t tier, const std::vector<int32_t>& ids, std::string_view text,
                                 int32_t chunk, const std::string& state_dir) {
  const std::string& path = e.model().tier(tier).file->path();
  const TierQualityKey key = AIRT_TRY(tier_quality_key(path, text));
  const std::string beside = tier_quality_cache_path(path, state_dir, true);
  const std::string in_state = tier_quality_cache_path(path, state_dir, false);
  TierQuality q;
  if (!read_cache(beside, key, q) && (state_dir.empty() || !read_cache(in_state, key, q))) {
    governor::OperatingPoint p = e.point();
    p.tier = tier;
    AIRT_TRY(e.apply(p));
    q = AIRT_TRY(score(e, ids, chunk));
    if (!write_cache(beside, key, q) && !state_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(state_dir, ec);
      (void)write_cache(in_state, key, q);
    }
  }
  q.tier = tier;
  q.path = path;
  return q;
}

// The text's tokens and the chunk they are scored in, for `e`'s plan.
Status quality_tokens(Engine& e, std::string_view text, std::vector<int32_t>& ids, int32_t& chunk) {
  const text::Tokenizer& tok = e.tokenizer();
  AIRT_TRY(tok.encode(text, tok.add_bos(), false, ids));
  const EngineConfig& c = e.config();
  chunk = std::min({c.n_logits, c.prefill_chunk, c.n_ctx, kMaxChunk});
  if (chunk < 16) {
    return errorf(Error::kRequestInvalid, "tier quality: the engine keeps logits of %d rows per step; 16 or more needed",
                  chunk);
  }
  return {};
}

}  // namespace

std::string_view tier_quality_default_text() { return kDefaultText; }

std::vector<TierQuality> tier_quality_cached(const model::Model& m, std::string_view text, const std::string& state_dir) {
  std::vector<TierQuality> out;
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    const std::string& path = m.tier(t).file->path();
    auto key = tier_quality_key(path, text);
    if (!key.ok()) continue;
    TierQuality q;
    if (!read_cache(tier_quality_cache_path(path, state_dir, true), *key, q) &&
        (state_dir.empty() || !read_cache(tier_quality_cache_path(path, state_dir, false), *key, q)))
      continue;
    q.tier = t;
    q.path = path;
    out.push_back(std::move(q));
  }
  return out;
}

std::string tier_quality_cache_path(const std::string& model_path, const std::string& state_dir, bool beside) {
  if (beside) return model_path + kCacheSuffix;
  char tag[20];
  std::snprintf(tag, sizeof tag, "%016" PRIx64, fnv1a(model_path));
  // The name is cut so that a long model name still gives a valid file name here.
  return state_dir + "/" + base_name(model_path).substr(0, 64) + "-" + tag + kCacheSuffix;
}

Result<TierQualityKey> tier_quality_key(const std::string& model_path, std::string_view text) {
  struct stat st;
  if (::stat(model_path.c_str(), &st) != 0) {
    return errorf(Error::kIoNotFound, "%s: cannot read its size and time for the quality cache", model_path.c_str());
  }
  TierQualityKey k;
  k.size = uint64_t(st.st_size);
  k.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  k.text_hash = fnv1a(text);
  return k;
}

Result<std::vector<TierQuality>> tier_quality_measure(Engine& e, std::string_view text, const std::string& state_dir) {
  std::vector<int32_t> ids;
  int32_t chunk = 0;
  AIRT_TRY(quality_tokens(e, text, ids, chunk));
  const governor::OperatingPoint before = e.point();
  std::vector<TierQuality> out;
  for (int32_t t = 0; t < e.model().n_tiers(); ++t) {
    auto q = tier_quality(e, t, ids, text, chunk, state_dir);
    if (!q.ok()) {
      (void)e.apply(before);
      return q.error();
    }
    out.push_back(std::move(*q));
  }
  AIRT_TRY(e.apply(before));
  return out;
}

Result<TierQuality> text_perplexity(Engine& e, const governor::OperatingPoint& p, std::string_view text) {
  std::vector<int32_t> ids;
  int32_t chunk = 0;
  AIRT_TRY(quality_tokens(e, text, ids, chunk));
  const governor::OperatingPoint before = e.point();
  AIRT_TRY(e.apply(p));
  auto q = score(e, ids, chunk);
  AIRT_TRY(e.apply(before));
  if (!q.ok()) return q.error();
  q->tier = p.tier;
  q->path = e.model().tier(p.tier).file->path();
  return q;
}

}  // namespace airt::engine
