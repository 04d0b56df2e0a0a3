#include "runtime/text/tokenizer.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "runtime/text/pretokenizer.h"
#include "runtime/text/unicode.h"

namespace airt::text {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Token texts that end a turn in common chat vocabularies; generation stops on them.
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>",    "<end_of_turn>",    "<|endoftext|>",
    "<|eom_id|>", "<EOT>",      "<|end_of_text|>", "<end_of_utterance>",
};
// Of those, the ones that mark the end of a chat turn (preferred as eot when the file
// names none), in order of preference.
constexpr std::string_view kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<|end_of_text|>", "<EOT>"};
// llama3-style BPE vocabularies are used with BOS unless the file says otherwise.
constexpr std::string_view kBosByDefaultPre[] = {"llama3", "llama-v3", "llama-bpe", "falcon3",
                                                 "falcon-h1", "pixtral", "tekken", "chameleon"};

// Tokens that decode to nothing unless special text is asked for.
bool hidden(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUnused ||
         t == TokenType::kUndefined;
}

// "<0x0A>" -> 10; -1 when the text is not a byte token's spelling.
int parse_byte_token(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  int v = 0;
  for (char c : s.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

// Highest priority first; on ties the leftmost pair, which makes the result independent of
// the heap's internal order.
struct BigramLess {
  template <class B>
  bool operator()(const B& a, const B& b) const {
    return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
  }
};

// One symbol per UTF-8 character of `s` (an invalid byte is a character of its own).
template <class Sym>
size_t split_chars(std::string_view s, std::span<Sym> syms) {
  size_t n_syms = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_char_len(s, i);
    const auto idx = static_cast<int32_t>(n_syms);
    AIRT_DCHECK(n_syms < syms.size());
    syms[n_syms++] = {static_cast<uint32_t>(i), static_cast<uint32_t>(n), idx - 1,
                      i + n < s.size() ? idx + 1 : -1};
    i += n;
  }
  return n_syms;
}

// Runs merges until no candidate is left. `score(left_text, right_text, joint_text)`
// returns the priority of merging, or nothing when the pair may not merge. The heap holds
// at most 2 * (n_syms - 1) candidates: n_syms - 1 to start with, and each merge pops one
// and pushes at most two.
template <class Sym, class Bi, class ScoreFn>
void merge_symbols(std::string_view s, std::span<Sym> syms, size_t n_syms, std::span<Bi> heap,
                   ScoreFn score) {
  size_t n_heap = 0;
  const auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const Sym& a = syms[l];
    const Sym& b = syms[r];
    std::optional<double> p =
        score(s.substr(a.start, a.n), s.substr(b.start, b.n), s.substr(a.start, a.n + b.n));
    if (!p) return;
    AIRT_DCHECK(n_heap < heap.size());
    heap[n_heap++] = {*p, l, r, a.n + b.n};
    std::push_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(n_heap), BigramLess{});
  };
  for (size_t i = 1; i < n_syms; ++i) try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  while (n_heap > 0) {
    std::pop_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(n_heap), BigramLess{});
    const Bi bg = heap[--n_heap];
    Sym& a = syms[bg.left];
    Sym& b = syms[bg.right];
    if (a.n == 0 || b.n == 0 || a.n + b.n != bg.size) continue;
    a.n += b.n;
    b.n = 0;
    a.next = b.next;
    if (b.next >= 0) syms[b.next].prev = bg.left;
    try_add(a.prev, bg.left);
    try_add(bg.left, a.next);
  }
}

// The bytes a token stands for: a byte token's byte, a control or user-defined token's
// text, an SPM token with U+2581 turned back into spaces, a byte-level BPE token mapped
// back from its visible alphabet.
void decode_token(std::string_view s, TokenType ty, bool spm, std::string& buf) {
  buf.clear();
  if (ty == TokenType::kByte && parse_byte_token(s) >= 0) {
    buf.push_back(static_cast<char>(parse_byte_token(s)));
  } else if (hidden(ty) || ty == TokenType::kUserDefined) {
    buf = s;  // control and user-defined tokens are stored as plain text
  } else if (spm) {
    for (size_t k = 0; k < s.size();) {
      if (s.compare(k, kSpace.size(), kSpace) == 0) {
        buf.push_back(' ');
        k += kSpace.size();
      } else {
        buf.push_back(s[k++]);
      }
    }
  } else {
    for (size_t k = 0; k < s.size();) {
      uint32_t cp;
      size_t len;
      int b = -1;
      if (utf8_decode(s, k, cp, len))
        b = cp_to_byte(cp);
      else
        len = 1;
      // A character outside the byte alphabet cannot come from the encoder; keep it as text.
      if (b >= 0)
        buf.push_back(static_cast<char>(b));
      else
        buf.append(s, k, len);
      k += len;
    }
  }
}

}  // namespace

Tokenizer::Tokenizer() { std::fill(std::begin(byte_tokens_), std::end(byte_tokens_), kNoToken); }
Tokenizer::~Tokenizer() = default;

Status Tokenizer::check_spec(const VocabSpec& spec) {
  const char* nm = spec.name.c_str();
  const size_t n = spec.tokens.size();
  if (n == 0) return errorf(Error::kFormatInvalid, "%s: the vocabulary has no tokens", nm);
  if (n > INT32_MAX / 2) return errorf(Error::kFormatInvalid, "%s: %zu tokens is too many", nm, n);
  if (!spec.scores.empty() && spec.scores.size() != n)
    return errorf(Error::kFormatInvalid, "%s: %zu token scores for %zu tokens", nm, spec.scores.size(), n);
  if (!spec.types.empty() && spec.types.size() != n)
    return errorf(Error::kFormatInvalid, "%s: %zu token types for %zu tokens", nm, spec.types.size(), n);
  const std::pair<const char*, int32_t> ids[] = {
      {"bos", spec.bos}, {"eos", spec.eos}, {"eot", spec.eot}, {"unk", spec.unk}, {"pad", spec.pad}};
  for (const auto& [what, id] : ids) {
    if (id != kNoToken && (id < 0 || static_cast<size_t>(id) >= n))
      return errorf(Error::kFormatInvalid, "%s: %s token id %d is outside the vocabulary (0..%zu)", nm,
                    what, id, n - 1);
  }
  return ok_status();
}

// The pre-tokenizer and the BOS/EOS/space-prefix choices (the kind's defaults unless the
// spec says otherwise).
Status Tokenizer::set_options(const VocabSpec& spec) {
  const bool spm = kind_ == VocabKind::kSpm;
  bool bos_default = spm;
  if (!spm) {
    pre_ = AIRT_TRY(PreTokenizer::create(spec.pre));
    for (std::string_view p : kBosByDefaultPre) bos_default |= (p == spec.pre);
  }
  add_bos_ = spec.add_bos.value_or(bos_default);
  add_eos_ = spec.add_eos.value_or(false);
  add_space_prefix_ = spec.add_space_prefix.value_or(spm);
  if (add_bos_ && bos_ == kNoToken)
    return errorf(Error::kFormatInvalid, "%s: add_bos_token is set but there is no bos_token_id",
                  name_.c_str());
  if (add_eos_ && eos_ == kNoToken)
    return errorf(Error::kFormatInvalid, "%s: add_eos_token is set but there is no eos_token_id",
                  name_.c_str());
  return ok_status();
}

// Text -> id, and "left right" -> merge rank.
Status Tokenizer::build_lookups(std::vector<std::string>& merges) {
  const size_t n = tokens_.size();
  // A duplicate text keeps its first id, as the converters that wrote it did.
  ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) ids_.emplace(tokens_[i], static_cast<int32_t>(i));

  merge_ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    std::string& m = merges[i];
    // The separator is the first space after the first character: a part never starts
    // with a raw space in a byte-level vocabulary, but be exact about where it splits.
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= m.size())
      return errorf(Error::kFormatInvalid,
                    "%s: merge %zu '%s' is not two parts separated by a space", name_.c_str(), i,
                    m.c_str());
    merge_ranks_.emplace(std::move(m), static_cast<int32_t>(i));
  }
  if (kind_ == VocabKind::kBpe && merge_ranks_.empty())
    return errorf(Error::kFormatInvalid,
                  "%s: a gpt2 (byte-level BPE) vocabulary needs tokenizer.ggml.merges",
                  name_.c_str());
  return ok_status();
}

// Byte fallback: SPM spells a byte <0xNN>; byte-level BPE has one token per byte character.
void Tokenizer::build_byte_tokens() {
  if (kind_ == VocabKind::kSpm) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const int b = parse_byte_token(tokens_[i]);
      if (b >= 0 && byte_tokens_[b] == kNoToken) byte_tokens_[b] = static_cast<int32_t>(i);
    }
    return;
  }
  for (int b = 0; b < 256; ++b) {
    char ch[4];
    byte_tokens_[b] =
        find(std::string_view(ch, utf8_encode(byte_to_cp(static_cast<uint8_t>(b)), ch)));
  }
}

// Decoded bytes of every token, computed once so the token loop only copies.
void Tokenizer::build_pieces() {
  const size_t n = tokens_.size();
  piece_offset_.resize(n + 1);
  std::string buf;
  for (size_t i = 0; i < n; ++i) {
    piece_offset_[i] = static_cast<uint32_t>(piece_bytes_.size());
    decode_token(tokens_[i], types_[i], kind_ == VocabKind::kSpm, buf);
    piece_bytes_ += buf;
    max_piece_bytes_ = std::max(max_piece_bytes_, buf.size());
  }
  piece_offset_[n] = static_cast<uint32_t>(piece_bytes_.size());
}

// Tokens matched as whole strings before tokenizing, longest first so that a longer token
// wins over a shorter one it contains.
void Tokenizer::build_specials() {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const TokenType ty = types_[i];
    if ((ty == TokenType::kControl || ty == TokenType::kUserDefined || ty == TokenType::kUnknown) &&
        !tokens_[i].empty())
      special_.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(special_.begin(), special_.end(),
                   [&](int32_t a, int32_t b) { return tokens_[a].size() > tokens_[b].size(); });
}

// End-of-generation marks; an end-of-turn token found by its text when the file names none.
void Tokenizer::build_eog() {
  eog_.assign(tokens_.size(), 0);
  if (eot_ == kNoToken) {
    for (std::string_view s : kEotTexts) {
      if (const int32_t id = find(s); id != kNoToken) {
        eot_ = id;
        break;
      }
    }
  }
  for (std::string_view s : kEogTexts) {
    if (const int32_t id = find(s); id != kNoToken) eog_[id] = 1;
  }
  if (eos_ != kNoToken) eog_[eos_] = 1;
  if (eot_ != kNoToken) eog_[eot_] = 1;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(VocabSpec spec) {
  AIRT_TRY(check_spec(spec));
  const size_t n = spec.tokens.size();
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->name_ = std::move(spec.name);
  t->kind_ = spec.kind;
  t->tokens_ = std::move(spec.tokens);
  t->scores_ = spec.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(spec.scores);
  t->types_ =
      spec.types.empty() ? std::vector<TokenType>(n, TokenType::kNormal) : std::move(spec.types);
  t->bos_ = spec.bos;
  t->eos_ = spec.eos;
  t->eot_ = spec.eot;
  t->unk_ = spec.unk;
  t->pad_ = spec.pad;
  AIRT_TRY(t->set_options(spec));
  AIRT_TRY(t->build_lookups(spec.merges));
  t->build_byte_tokens();
  t->build_pieces();
  t->build_specials();
  t->build_eog();
  return t;
}

int32_t Tokenizer::find(std::string_view s) const {
  const auto it = ids_.find(s);
  return it == ids_.end() ? kNoToken : it->second;
}

bool Tokenizer::is_eog(int32_t id) const { return id >= 0 && id < n_vocab() && eog_[id]; }

TokenType Tokenizer::type(int32_t id) const {
  return id >= 0 && id < n_vocab() ? types_[id] : TokenType::kUndefined;
}

std::string_view Tokenizer::text(int32_t id) const {
  return id >= 0 && id < n_vocab() ? std::string_view(tokens_[id]) : std::string_view();
}

std::string_view Tokenizer::piece(int32_t id, bool special) const {
  if (id < 0 || id >= n_vocab()) return {};
  if (!special && hidden(types_[id])) return {};
  return std::string_view(piece_bytes_).substr(piece_offset_[id], piece_offset_[id + 1] - piece_offset_[id]);
}

size_t Tokenizer::piece(int32_t id, char* buf, size_t cap, bool special) const {
  const std::string_view p = piece(id, special);
  // An empty piece has no data pointer; memcpy must not see it even for 0 bytes.
  if (cap > 0 && !p.empty()) std::memcpy(buf, p.data(), std::min(cap, p.size()));
  return p.size();
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool special) const {
  std::string out;
  bool first = true;
  for (const int32_t id : ids) {
    std::string_view p = piece(id, special);
    if (p.empty()) continue;
    // The encoder prepends a space to SentencePiece text; the first word gives it back.
    if (first && add_space_prefix_ && kind_ == VocabKind::kSpm && p[0] == ' ' &&
        types_[id] == TokenType::kNormal)
      p.remove_prefix(1);
    first = false;
    out.append(p);
  }
  return out;
}

// Workspace ------------------------------------------------------------------------------

size_t Tokenizer::Workspace::bytes(size_t max_text_bytes) {
  Workspace unused;
  return lay_out(unused, nullptr, std::min(max_text_bytes, kMaxTextBytes)) + MatchScratch::kBytes;
}

// Places the buffers at base (or only measures them when base is null); returns their bytes.
size_t Tokenizer::Workspace::lay_out(Workspace& ws, std::byte* base, size_t max_text_bytes) {
  const size_t n = max_text_bytes + 1;
  size_t off = 0;
  const auto take = [&]<class T>(std::span<T>& s, size_t count) {
    if (base) s = {reinterpret_cast<T*>(base + off), count};
    off += align_up(count * sizeof(T), 64);
  };
  take(ws.frags_a_, n);
  take(ws.frags_b_, n);
  take(ws.chars_, 3 * n);
  take(ws.key_, 2 * n);
  take(ws.syms_, n);
  take(ws.heap_, 2 * n);
  take(ws.words_a_, n);
  take(ws.words_b_, n);
  return off;
}

Result<Tokenizer::Workspace> Tokenizer::Workspace::create(std::span<std::byte> mem,
                                                          size_t max_text_bytes) {
  if (max_text_bytes > kMaxTextBytes)
    return errorf(Error::kRequestTooLarge,
                  "tokenizer workspace: %zu bytes of text is more than the %zu airt tokenizes",
                  max_text_bytes, kMaxTextBytes);
  const size_t need = bytes(max_text_bytes);
  if (mem.size() < need || reinterpret_cast<uintptr_t>(mem.data()) % 16 != 0)
    return errorf(
        Error::kInternal,
        "tokenizer workspace: %zu bytes at %p; texts of %zu bytes need %zu, 16-byte aligned",
        mem.size(), static_cast<void*>(mem.data()), max_text_bytes, need);
  Workspace ws;
  ws.max_text_bytes_ = max_text_bytes;
  const size_t used = lay_out(ws, mem.data(), max_text_bytes);
  ws.match_ = AIRT_TRY(MatchScratch::create(mem.subspan(used, MatchScratch::kBytes)));
  return ws;
}

Result<Tokenizer::Workspace> Tokenizer::Workspace::carve(Arena& arena, size_t max_text_bytes) {
  if (max_text_bytes > kMaxTextBytes)
    return errorf(Error::kRequestTooLarge,
                  "tokenizer workspace: %zu bytes of text is more than the %zu airt tokenizes",
                  max_text_bytes, kMaxTextBytes);
  const size_t need = bytes(max_text_bytes);
  auto* mem = static_cast<std::byte*>(arena.alloc(need, 64));
  if (!mem)
    return errorf(Error::kResourceOutOfMemory,
                  "tokenizer workspace: the arena has no room for %zu bytes (texts of %zu bytes); "
                  "%zu of %zu bytes are used (a planning bug: the plan must include "
                  "Tokenizer::Workspace::bytes)",
                  need, max_text_bytes, arena.used(), arena.capacity());
  return create({mem, need}, max_text_bytes);
}

// Encoding -------------------------------------------------------------------------------

// Where encode() writes ids: it counts past the end of the caller's span, so an overflow is
// reported with the number of ids the text needs.
class Tokenizer::IdSink {
 public:
  explicit IdSink(std::span<int32_t> out) : out_(out) {}
  void push(int32_t id) {
    if (n_ < out_.size()) out_[n_] = id;
    ++n_;
  }
  size_t size() const { return n_; }

 private:
  std::span<int32_t> out_;
  size_t n_ = 0;
};

std::span<const Tokenizer::Fragment> Tokenizer::partition(std::string_view text, bool parse_special,
                                                          Workspace& ws) const {
  if (text.empty()) return {};
  // Every fragment is non-empty, so there are at most text.size() of them.
  std::span<Fragment> cur = ws.frags_a_, next = ws.frags_b_;
  size_t n_cur = 1;
  cur[0] = {kNoToken, 0, static_cast<uint32_t>(text.size())};
  for (const int32_t id : special_) {
    if (!parse_special && types_[id] != TokenType::kUserDefined) continue;
    const std::string& tok = tokens_[id];
    if (text.find(tok) == std::string_view::npos) continue;  // the common case: skip quickly
    size_t n_next = 0;
    for (size_t i = 0; i < n_cur; ++i) {
      const Fragment f = cur[i];
      if (f.token != kNoToken) {
        next[n_next++] = f;
        continue;
      }
      uint32_t pos = f.begin;
      while (pos < f.end) {
        const size_t hit = text.substr(0, f.end).find(tok, pos);
        if (hit == std::string_view::npos) break;
        if (hit > pos) next[n_next++] = {kNoToken, pos, static_cast<uint32_t>(hit)};
        next[n_next++] = {id, static_cast<uint32_t>(hit), static_cast<uint32_t>(hit + tok.size())};
        pos = static_cast<uint32_t>(hit + tok.size());
      }
      if (pos < f.end) next[n_next++] = {kNoToken, pos, f.end};
    }
    std::swap(cur, next);
    n_cur = n_next;
  }
  return cur.first(n_cur);
}

Result<size_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special,
                                 std::span<int32_t> out, Workspace& ws) const {
  if (text.size() > ws.max_text_bytes())
    return errorf(Error::kRequestTooLarge,
                  "%s: text of %zu bytes is longer than the %zu bytes the tokenizer "
                  "workspace is sized for",
                  name_.c_str(), text.size(), ws.max_text_bytes());
  IdSink sink(out);
  if (add_special && add_bos_) sink.push(bos_);
  bool after_special = true;  // the text start counts as a boundary for the space prefix
  for (const Fragment& f : partition(text, parse_special, ws)) {
    if (f.token != kNoToken) {
      sink.push(f.token);
      after_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.begin, f.end - f.begin);
    if (kind_ == VocabKind::kSpm)
      encode_spm(raw, add_space_prefix_ && after_special, sink, ws);
    else
      AIRT_TRY(encode_bpe(raw, sink, ws));
    after_special = false;
  }
  if (add_special && add_eos_) sink.push(eos_);
  if (sink.size() > out.size())
    return errorf(Error::kRequestTooLarge,
                  "%s: text of %zu bytes gives %zu tokens, more than the %zu there is room for",
                  name_.c_str(), text.size(), sink.size(), out.size());
  return sink.size();
}

Status Tokenizer::encode(std::string_view text, bool add_special, bool parse_special,
                         std::vector<int32_t>& out) const {
  if (text.size() > kMaxTextBytes)
    return errorf(Error::kRequestTooLarge, "%s: text of %zu bytes is too long to tokenize",
                  name_.c_str(), text.size());
  // Uninitialised on purpose: encode() writes every byte before it reads it.
  const size_t words = Workspace::bytes(text.size()) / sizeof(std::max_align_t) + 1;
  const auto mem = std::make_unique_for_overwrite<std::max_align_t[]>(words);
  Workspace ws =
      AIRT_TRY(Workspace::create(std::as_writable_bytes(std::span(mem.get(), words)), text.size()));
  const size_t first = out.size();
  out.resize(first + max_tokens(text.size()));
  const Result<size_t> n =
      encode(text, add_special, parse_special, std::span(out).subspan(first), ws);
  out.resize(n.ok() ? first + n.value() : first);
  return n.ok() ? ok_status() : Status(n.error());
}

void Tokenizer::emit_bytes(std::string_view bytes, IdSink& out) const {
  for (const char c : bytes) {
    const int32_t id = byte_tokens_[static_cast<uint8_t>(c)];
    if (id != kNoToken)
      out.push(id);
    else if (unk_ != kNoToken)
      out.push(unk_);
  }
}

// `raw` with spaces spelt U+2581 (and one in front when `prefix`), merged by score.
void Tokenizer::encode_spm(std::string_view raw, bool prefix, IdSink& out, Workspace& ws) const {
  char* w = ws.chars_.data();  // 3 bytes per input byte at most, plus the prefix
  size_t len = 0;
  if (prefix) len += kSpace.copy(w, kSpace.size());
  for (const char c : raw) {
    if (c == ' ')
      len += kSpace.copy(w + len, kSpace.size());
    else
      w[len++] = c;
  }
  const std::string_view s(w, len);
  const std::span<Symbol> syms = ws.syms_;
  const size_t n_syms = split_chars(s, syms);
  merge_symbols(
      s, syms, n_syms, ws.heap_,
      [&](std::string_view, std::string_view, std::string_view joint) -> std::optional<double> {
        const int32_t id = find(joint);
        if (id == kNoToken) return std::nullopt;
        return scores_[id];
      });
  for (int32_t i = n_syms == 0 ? -1 : 0; i >= 0; i = syms[i].next) {
    const std::string_view piece_text = s.substr(syms[i].start, syms[i].n);
    const int32_t id = find(piece_text);
    if (id != kNoToken)
      out.push(id);
    else emit_bytes(piece_text, out);  // a character the vocabulary lacks: its bytes
  }
}

Status Tokenizer::encode_bpe(std::string_view text, IdSink& out, Workspace& ws) const {
  const std::span<const ByteRange> words =
      AIRT_TRY(pre_->split(text, ws.words_a_, ws.words_b_, ws.match_));
  char* mapped = ws.chars_.data();  // each byte becomes a character of at most 2 bytes
  for (const ByteRange& w : words) {
    size_t len = 0;
    for (uint32_t i = w.begin; i < w.end; ++i)
      len += utf8_encode(byte_to_cp(static_cast<uint8_t>(text[i])), mapped + len);
    bpe_word(std::string_view(mapped, len), out, ws);
  }
  return ok_status();
}

void Tokenizer::bpe_word(std::string_view word, IdSink& out, Workspace& ws) const {
  if (pre_->ignore_merges()) {
    if (const int32_t id = find(word); id != kNoToken) {
      out.push(id);
      return;
    }
  }
  const std::span<Symbol> syms = ws.syms_;
  const size_t n_syms = split_chars(word, syms);
  char* key = ws.key_.data();  // left and right are disjoint parts of the word: fits 2 * size + 1
  merge_symbols(
      word, syms, n_syms, ws.heap_,
      [&](std::string_view l, std::string_view r, std::string_view) -> std::optional<double> {
        size_t n = l.copy(key, l.size());
        key[n++] = ' ';
        n += r.copy(key + n, r.size());
        const auto it = merge_ranks_.find(std::string_view(key, n));
        if (it == merge_ranks_.end()) return std::nullopt;
        return -static_cast<double>(it->second);
      });
  for (int32_t i = n_syms == 0 ? -1 : 0; i >= 0; i = syms[i].next) {
    const std::string_view piece_text = word.substr(syms[i].start, syms[i].n);
    const int32_t id = find(piece_text);
    if (id != kNoToken) {
      out.push(id);
      continue;
    }
    // Not in the vocabulary (a merge whose result was dropped): spell it per byte. A byte
    // the vocabulary has no character for (some omit the bytes that never occur in valid
    // UTF-8) is dropped: these vocabularies' "unknown" id is often their end-of-text token,
    // which must not appear in the middle of a prompt.
    for (size_t k = 0; k < piece_text.size();) {
      uint32_t cp;
      size_t len;
      int b = -1;
      if (utf8_decode(piece_text, k, cp, len)) b = cp_to_byte(cp);
      else len = 1;
      if (b >= 0 && byte_tokens_[b] != kNoToken) out.push(byte_tokens_[b]);
      k += len;
    }
  }
}

}  // namespace airt::text
