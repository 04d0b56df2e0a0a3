// The regex pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre).
//
// A pre-tokenizer is a list of regexes applied in turn: each one splits every piece the
// previous one produced into its matches and the gaps between them (gaps are kept), so
// no byte of the input is ever dropped. BPE merges then never cross a piece boundary.
// Matching uses PCRE2 in UTF + UCP mode, so \p{L}, \p{N}, \s follow the Unicode tables of
// the system's libpcre2; invalid UTF-8 is matched by nothing and ends up in a gap.
//
// Memory: split() into caller spans with a MatchScratch allocates nothing. PCRE2 asks for
// memory only through the scratch's general context, which hands out pieces of the caller's
// buffer (match data, and the interpreter's backtracking frames where there is no JIT).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.h"

namespace airt::text {

struct ByteRange {
  uint32_t begin = 0;
  uint32_t end = 0;
};

// PCRE2's state for split(), in caller memory; one per thread that splits. Trivially
// destructible: everything it points to lives in the buffer given to create(), which must
// outlive it.
class MatchScratch {
 public:
  // Bytes create() needs: match data (a few hundred bytes) and the interpreter's frames
  // (PCRE2 starts them at 20 KiB and doubles them when a match needs more).
  static constexpr size_t kBytes = 64 * 1024;

  // Lays the scratch out in `mem` (at least kBytes, 16-byte aligned).
  static Result<MatchScratch> create(std::span<std::byte> mem);

  // Bytes PCRE2 has taken from the buffer so far (its high-water mark: nothing is freed).
  size_t bytes_used() const;

 private:
  friend class PreTokenizer;
  struct Pool;
  Pool* pool_ = nullptr;
  void* match_data_ = nullptr;     // pcre2_match_data*
  void* match_context_ = nullptr;  // pcre2_match_context*
};

class PreTokenizer {
 public:
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // `pre` is the tokenizer.ggml.pre name ("" or "default" for the generic one). Unknown
  // names are an error that lists the known ones. `jit` false keeps PCRE2 on its
  // interpreter, the path a libpcre2 without JIT takes (tests cover it that way).
  static Result<std::unique_ptr<PreTokenizer>> create(std::string_view pre, bool jit = true);

  // Names this build understands, for messages and tests.
  static std::vector<std::string_view> known_names();

  // Whether a word that is itself a vocabulary token is taken whole instead of being
  // merged (llama3-style vocabularies were trained that way).
  bool ignore_merges() const { return ignore_merges_; }

  // Splits text[0..size) into pieces, in order, covering every byte. `a` and `b` each
  // hold at least text.size() ranges (no piece is empty); the result is a prefix of one of
  // them. No allocation.
  Result<std::span<const ByteRange>> split(std::string_view text, std::span<ByteRange> a,
                                           std::span<ByteRange> b, MatchScratch& scratch) const;
  // The same, appending to `out` (allocates: tests and start-up code).
  Status split(std::string_view text, std::vector<ByteRange>& out) const;

 private:
  PreTokenizer() = default;
  static ErrorInfo match_error(int rc);
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool ignore_merges_ = false;
};

}  // namespace airt::text
