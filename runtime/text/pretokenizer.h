// The regex pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre).
//
// A pre-tokenizer is a list of regexes applied in turn: each one splits every piece the
// previous one produced into its matches and the gaps between them (gaps are kept), so
// no byte of the input is ever dropped. BPE merges then never cross a piece boundary.
// Matching uses PCRE2 in UTF + UCP mode, so \p{L}, \p{N}, \s follow the Unicode tables of
// the system's libpcre2; invalid UTF-8 is matched by nothing and ends up in a gap.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.h"

namespace airt::text {

struct ByteRange {
  uint32_t begin = 0;
  uint32_t end = 0;
};

class PreTokenizer {
 public:
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // `pre` is the tokenizer.ggml.pre name ("" or "default" for the generic one). Unknown
  // names are an error that lists the known ones.
  static Result<std::unique_ptr<PreTokenizer>> create(std::string_view pre);

  // Names this build understands, for messages and tests.
  static std::vector<std::string_view> known_names();

  // Whether a word that is itself a vocabulary token is taken whole instead of being
  // merged (llama3-style vocabularies were trained that way).
  bool ignore_merges() const { return ignore_merges_; }

  // Splits text[0..size) and appends the pieces, in order, covering every byte.
  Status split(std::string_view text, std::vector<ByteRange>& out) const;

 private:
  PreTokenizer() = default;
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool ignore_merges_ = false;
};

}  // namespace airt::text
