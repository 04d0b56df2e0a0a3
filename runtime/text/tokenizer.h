// Tokenizers for the vocabularies GGUF files declare in tokenizer.ggml.model:
//
//   "llama"  SentencePiece-style BPE: merges chosen by token score, a space prepended to
//            the text and spaces written as U+2581, bytes without a token spelt with the
//            <0xNN> byte tokens.
//   "gpt2"   byte-level BPE: a regex pre-tokenizer (tokenizer.ggml.pre) cuts the text into
//            words, each byte becomes a visible character, merges apply by rank.
//
// The algorithms run on plain vectors (VocabSpec), so they are testable without a file;
// from_gguf() is a thin adapter over the GGUF metadata.
//
// Ownership: a Tokenizer owns copies of everything it needs; it does not keep the
// gguf::File alive or point into it. All methods are const and thread-safe; a Workspace
// is used by one thread at a time.
//
// Memory: encode() into a caller span with a Workspace (caller memory, sized for the
// longest text) performs no heap allocation, for both kinds and the regex pre-tokenizers;
// the vector overload is a wrapper that allocates both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/core/arena.h"
#include "runtime/core/result.h"
#include "runtime/text/pretokenizer.h"

namespace airt::gguf {
class File;
}

namespace airt::text {

// tokenizer.ggml.token_type values.
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class VocabKind : uint8_t { kSpm, kBpe };

inline constexpr int32_t kNoToken = -1;

// Everything a tokenizer is built from, as plain data.
struct VocabSpec {
  std::string name = "vocabulary";  // used in error messages (the file name)
  VocabKind kind = VocabKind::kSpm;
  std::string pre;                  // BPE pre-tokenizer name; "" = "default"
  std::vector<std::string> tokens;
  std::vector<float> scores;        // SPM merge priorities; empty = all 0
  std::vector<TokenType> types;     // empty = all normal
  std::vector<std::string> merges;  // BPE: "left right", rank = position
  int32_t bos = kNoToken;
  int32_t eos = kNoToken;
  int32_t eot = kNoToken;
  int32_t unk = kNoToken;
  int32_t pad = kNoToken;
  // Unset: the vocabulary kind's default (SPM: BOS yes, space prefix yes; BPE: no, no;
  // llama3-style BPE adds BOS).
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
  std::optional<bool> add_space_prefix;
};

class Tokenizer {
  // The working records of encode(), kept in a Workspace.
  struct Fragment {  // a run of the input: raw text or one whole special token
    int32_t token;   // kNoToken for raw text
    uint32_t begin, end;
  };
  struct Symbol {  // a run of the working string in a merge loop, linked to its neighbours
    uint32_t start;
    uint32_t n;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  // A candidate merge of symbols left and right. `size` is their joint length when the
  // candidate was made: if either has changed since, the candidate is stale and skipped.
  struct Bigram {
    double priority;  // higher merges first: token score (SPM) or -rank (BPE), both exact
    int32_t left;
    int32_t right;
    uint32_t size;
  };

 public:
  // Caller memory for encode(): every buffer the algorithms need, sized for texts of up to
  // max_text_bytes bytes, and the regex scratch. Not tied to one tokenizer. Trivially
  // destructible; it points into memory the caller owns, which must outlive it.
  class Workspace {
   public:
    // Bytes a workspace for texts of up to max_text_bytes needs (a multiple of 64):
    // about 110 bytes per text byte plus MatchScratch::kBytes.
    static size_t bytes(size_t max_text_bytes);
    // One 64-byte-aligned block of exactly bytes(max_text_bytes) from `arena`.
    static Result<Workspace> carve(Arena& arena, size_t max_text_bytes);
    // Lays a workspace out in `mem` (at least bytes(max_text_bytes), 16-byte aligned).
    static Result<Workspace> create(std::span<std::byte> mem, size_t max_text_bytes);
    size_t max_text_bytes() const { return max_text_bytes_; }

   private:
    friend class Tokenizer;
    // Points the buffers into `base` (or only measures when it is null); returns their bytes.
    static size_t lay_out(Workspace& ws, std::byte* base, size_t max_text_bytes);
    size_t max_text_bytes_ = 0;
    std::span<Fragment> frags_a_, frags_b_;   // max_text_bytes + 1 each
    std::span<char> chars_;                   // 3 * (max_text_bytes + 1): SPM text or BPE word
    std::span<char> key_;                     // 2 * (max_text_bytes + 1): a BPE merge "left right"
    std::span<Symbol> syms_;                  // max_text_bytes + 1
    std::span<Bigram> heap_;                  // 2 * (max_text_bytes + 1)
    std::span<ByteRange> words_a_, words_b_;  // max_text_bytes + 1 each
    MatchScratch match_;
  };

  // The most ids encode() can give for a text of `text_bytes` bytes (BOS and EOS
  // included): SentencePiece spells a space as U+2581 (3 bytes), and a piece the
  // vocabulary lacks as one byte token per byte.
  static size_t max_tokens(size_t text_bytes) { return 6 * text_bytes + 2; }
  // Longest text encode() takes, so that every offset fits 32 bits.
  static constexpr size_t kMaxTextBytes = UINT32_MAX / 4;

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Validates the spec (ids in range, types and scores sized like tokens, known
  // pre-tokenizer) and builds the lookup tables.
  static Result<std::unique_ptr<Tokenizer>> create(VocabSpec spec);
  // Reads tokenizer.ggml.* from a GGUF file.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::File& f);

  // Appends the ids of `text` to `out`. add_special: add BOS/EOS where the vocabulary
  // asks for them (add_bos()/add_eos()). parse_special: text spelling a control token
  // ("<|im_start|>") becomes that token; otherwise it is tokenized as plain text.
  // User-defined tokens are always matched whole, as the vocabularies intend.
  // Writes the ids to `out` and returns how many; no heap allocation. kRequestTooLarge
  // when the text is longer than the workspace was sized for or the ids do not fit `out`
  // (max_tokens(text.size()) always fits).
  Result<size_t> encode(std::string_view text, bool add_special, bool parse_special,
                        std::span<int32_t> out, Workspace& ws) const;
  // The same, appending to `out` (allocates a workspace: start-up code, CLI, tests).
  Status encode(std::string_view text, bool add_special, bool parse_special,
                std::vector<int32_t>& out) const;

  // The bytes of one token, for the token loop: no allocation, the view points into the
  // tokenizer and lives as long as it. Byte tokens give their raw byte, so a piece may be
  // an incomplete UTF-8 sequence; callers concatenate bytes. Control tokens give "" unless
  // `special` (then their text). Unknown ids give "".
  std::string_view piece(int32_t id, bool special = false) const;
  // The same into a caller buffer: copies min(size, cap) bytes, returns the full size.
  size_t piece(int32_t id, char* buf, size_t cap, bool special = false) const;
  // Longest piece in bytes (size the caller's buffer with it).
  size_t max_piece_bytes() const { return max_piece_bytes_; }

  // Concatenated pieces. For SentencePiece vocabularies the space the encoder prepends
  // is dropped from the first piece, so decode(encode(s)) == s.
  std::string decode(std::span<const int32_t> ids, bool special = false) const;

  const std::string& name() const { return name_; }
  VocabKind kind() const { return kind_; }
  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  int32_t unk() const { return unk_; }
  int32_t pad() const { return pad_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  // End of generation: eos, eot, and the end-of-turn tokens chat vocabularies define.
  bool is_eog(int32_t id) const;
  TokenType type(int32_t id) const;
  // The vocabulary's spelling of a token (byte-level alphabet, U+2581 for spaces).
  std::string_view text(int32_t id) const;
  // The id whose vocabulary text is exactly `s`, or kNoToken.
  int32_t find(std::string_view s) const;

 private:
  Tokenizer();
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using TextMap = std::unordered_map<std::string, int32_t, Hash, std::equal_to<>>;
  class IdSink;

  // create()'s steps, in order.
  static Status check_spec(const VocabSpec& spec);
  Status set_options(const VocabSpec& spec);
  Status build_lookups(std::vector<std::string>& merges);
  void build_byte_tokens();
  void build_pieces();
  void build_specials();
  void build_eog();

  std::span<const Fragment> partition(std::string_view text, bool parse_special,
                                      Workspace& ws) const;
  void encode_spm(std::string_view text, bool prefix, IdSink& out, Workspace& ws) const;
  Status encode_bpe(std::string_view text, IdSink& out, Workspace& ws) const;
  void bpe_word(std::string_view word, IdSink& out, Workspace& ws) const;
  void emit_bytes(std::string_view bytes, IdSink& out) const;

  std::string name_;
  VocabKind kind_ = VocabKind::kSpm;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::vector<uint8_t> eog_;
  TextMap ids_;
  TextMap merge_ranks_;                 // "left right" -> rank
  std::vector<int32_t> special_;        // control/user-defined/unknown ids, longest text first
  int32_t byte_tokens_[256];            // <0xNN> (SPM) or the byte's character (BPE)
  std::vector<uint32_t> piece_offset_;  // n_vocab + 1 offsets into piece_bytes_
  std::string piece_bytes_;             // every token's decoded bytes, back to back
  size_t max_piece_bytes_ = 0;
  std::unique_ptr<PreTokenizer> pre_;
  int32_t bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, unk_ = kNoToken, pad_ = kNoToken;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
};

}  // namespace airt::text
