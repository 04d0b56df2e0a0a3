// The quality of each weight tier, so a governor can rank the ladder: the perplexity of
// a text (a short built-in one, or the caller's) on each tier, measured once and cached.
//
// The cache is a small JSON file beside the model (MODEL.gguf.airt-quality.json), or in
// a state directory when the model's directory is not writable. An entry holds for the
// file's size and modification time and the text's hash: a re-quantized file or
// another text is measured again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/engine/engine.h"

namespace airt::engine {

// A few hundred tokens of plain English prose: enough to separate q8_0 from q4_0.
std::string_view tier_quality_default_text();

struct TierQuality {
  int32_t tier = 0;
  std::string path;       // the tier's file
  double perplexity = 0;  // exp(mean negative log-likelihood of each next token)
  int32_t tokens = 0;     // tokens scored
  bool cached = false;    // read from the cache, not measured now
};

// The key an entry is valid for.
struct TierQualityKey {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t text_hash = 0;
};

// Where the cache of `model_path` lives: beside it, or in `state_dir` (named after the
// file and a hash of its full path) when `beside` is false.
std::string tier_quality_cache_path(const std::string& model_path, const std::string& state_dir, bool beside);
// The key of `model_path` for `text` (kIoNotFound when the file is gone).
Result<TierQualityKey> tier_quality_key(const std::string& model_path, std::string_view text);

// Perplexity of `text` on every tier of e.model(): from the cache where its key still
// holds, otherwise measured on `e` (which must keep logits for a whole chunk: n_logits
// and prefill_chunk >= 16; chunks of min(n_logits, n_ctx, 256) tokens) and written to
// the cache (beside the model, else in `state_dir`; a cache that cannot be written is
// not an error). The engine's operating point is restored afterwards; `e` must be idle.
// The cached figures only, measuring nothing (no engine needed): tiers without a valid
// entry are left out.
std::vector<TierQuality> tier_quality_cached(const model::Model& m, std::string_view text, const std::string& state_dir);

// Perplexity of `text` on `e` at operating point `p` (its tier, window with sinks, KV
// precision), measured now and not cached: what the tiers' figures are measured with,
// so that ratios between points compare like with like. Same requirements on `e` as
// tier_quality_measure (a plan holding p's window and KV types); the engine's operating
// point is restored afterwards. `tier` of the result is p.tier, `path` its file.
Result<TierQuality> text_perplexity(Engine& e, const governor::OperatingPoint& p, std::string_view text);

Result<std::vector<TierQuality>> tier_quality_measure(Engine& e, std::string_view text, const std::string& state_dir);

}  // namespace airt::engine
