#include "runtime/text/tokenizer.h"

#include <algorithm>
#include <cstring>

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

// A symbol of the merge loops: a run of the working string, linked to its neighbours.
struct Symbol {
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

// Highest priority first; on ties the leftmost pair, which makes the result independent of
// the heap's internal order.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
  }
};

void split_chars(std::string_view s, std::vector<Symbol>& syms) {
  syms.clear();
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_char_len(s, i);
    const auto idx = static_cast<int32_t>(syms.size());
    syms.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(n), idx - 1,
                    i + n < s.size() ? idx + 1 : -1});
    i += n;
  }
}

// Runs merges until no candidate is left. `score(left_text, right_text, joint_text)`
// returns the priority of merging, or nothing when the pair may not merge.
template <class ScoreFn>
void merge_symbols(std::string_view s, std::vector<Symbol>& syms, ScoreFn score) {
  std::vector<Bigram> heap;
  const auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const Symbol& a = syms[l];
    const Symbol& b = syms[r];
    std::optional<double> p =
        score(s.substr(a.start, a.n), s.substr(b.start, b.n), s.substr(a.start, a.n + b.n));
    if (!p) return;
    heap.push_back({*p, l, r, a.n + b.n});
    std::push_heap(heap.begin(), heap.end(), BigramLess{});
  };
  for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramLess{});
    const Bigram bg = heap.back();
    heap.pop_back();
    Symbol& a = syms[bg.left];
    Symbol& b = syms[bg.right];
    if (a.n == 0 || b.n == 0 || a.n + b.n != bg.size) continue;
    a.n += b.n;
    b.n = 0;
    a.next = b.next;
    if (b.next >= 0) syms[b.next].prev = bg.left;
    try_add(a.prev, bg.left);
    try_add(bg.left, a.next);
  }
}

}  // namespace

Tokenizer::Tokenizer() { std::fill(std::begin(byte_tokens_), std::end(byte_tokens_), kNoToken); }
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(VocabSpec spec) {
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

  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->name_ = std::move(spec.name);
  t->kind_ = spec.kind;
  t->tokens_ = std::move(spec.tokens);
  t->scores_ = spec.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(spec.scores);
  t->types_ = spec.types.empty() ? std::vector<TokenType>(n, TokenType::kNormal) : std::move(spec.types);
  t->bos_ = spec.bos, t->eos_ = spec.eos, t->eot_ = spec.eot, t->unk_ = spec.unk, t->pad_ = spec.pad;

  const bool spm = spec.kind == VocabKind::kSpm;
  bool bos_default = spm;
  if (!spm) {
    t->pre_ = AIRT_TRY(PreTokenizer::create(spec.pre));
    for (std::string_view p : kBosByDefaultPre) bos_default |= (p == spec.pre);
  }
  t->add_bos_ = spec.add_bos.value_or(bos_default);
  t->add_eos_ = spec.add_eos.value_or(false);
  t->add_space_prefix_ = spec.add_space_prefix.value_or(spm);
  if (t->add_bos_ && t->bos_ == kNoToken)
    return errorf(Error::kFormatInvalid, "%s: add_bos_token is set but there is no bos_token_id", t->name_.c_str());
  if (t->add_eos_ && t->eos_ == kNoToken)
    return errorf(Error::kFormatInvalid, "%s: add_eos_token is set but there is no eos_token_id", t->name_.c_str());

  // Text -> id. A duplicate text keeps its first id, as the converters that wrote it did.
  t->ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) t->ids_.emplace(t->tokens_[i], static_cast<int32_t>(i));

  t->merge_ranks_.reserve(spec.merges.size());
  for (size_t i = 0; i < spec.merges.size(); ++i) {
    std::string& m = spec.merges[i];
    // The separator is the first space after the first character: a part never starts
    // with a raw space in a byte-level vocabulary, but be exact about where it splits.
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= m.size())
      return errorf(Error::kFormatInvalid, "%s: merge %zu '%s' is not two parts separated by a space",
                    t->name_.c_str(), i, m.c_str());
    t->merge_ranks_.emplace(std::move(m), static_cast<int32_t>(i));
  }
  if (!spm && t->merge_ranks_.empty())
    return errorf(Error::kFormatInvalid, "%s: a gpt2 (byte-level BPE) vocabulary needs tokenizer.ggml.merges",
                  t->name_.c_str());

  // Byte fallback: SPM spells a byte <0xNN>; byte-level BPE has one token per byte character.
  for (size_t i = 0; i < n; ++i) {
    if (spm) {
      const int b = parse_byte_token(t->tokens_[i]);
      if (b >= 0 && t->byte_tokens_[b] == kNoToken) t->byte_tokens_[b] = static_cast<int32_t>(i);
    }
  }
  if (!spm) {
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      utf8_append(ch, byte_to_cp(static_cast<uint8_t>(b)));
      t->byte_tokens_[b] = t->find(ch);
    }
  }

  // Decoded bytes of every token, computed once so the token loop only copies.
  t->piece_offset_.resize(n + 1);
  std::string buf;
  for (size_t i = 0; i < n; ++i) {
    t->piece_offset_[i] = static_cast<uint32_t>(t->piece_bytes_.size());
    const std::string& s = t->tokens_[i];
    const TokenType ty = t->types_[i];
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
        if (utf8_decode(s, k, cp, len)) b = cp_to_byte(cp);
        else len = 1;
        // A character outside the byte alphabet cannot come from the encoder; keep it as text.
        if (b >= 0) buf.push_back(static_cast<char>(b));
        else buf.append(s, k, len);
        k += len;
      }
    }
    t->piece_bytes_ += buf;
    t->max_piece_bytes_ = std::max(t->max_piece_bytes_, buf.size());
  }
  t->piece_offset_[n] = static_cast<uint32_t>(t->piece_bytes_.size());

  // Tokens matched as whole strings before tokenizing, longest first so that a longer
  // token wins over a shorter one it contains.
  for (size_t i = 0; i < n; ++i) {
    const TokenType ty = t->types_[i];
    if ((ty == TokenType::kControl || ty == TokenType::kUserDefined || ty == TokenType::kUnknown) &&
        !t->tokens_[i].empty())
      t->special_.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(t->special_.begin(), t->special_.end(), [&](int32_t a, int32_t b) {
    return t->tokens_[a].size() > t->tokens_[b].size();
  });

  t->eog_.assign(n, 0);
  if (t->eot_ == kNoToken) {
    for (std::string_view s : kEotTexts) {
      if (const int32_t id = t->find(s); id != kNoToken) {
        t->eot_ = id;
        break;
      }
    }
  }
  for (std::string_view s : kEogTexts) {
    if (const int32_t id = t->find(s); id != kNoToken) t->eog_[id] = 1;
  }
  if (t->eos_ != kNoToken) t->eog_[t->eos_] = 1;
  if (t->eot_ != kNoToken) t->eog_[t->eot_] = 1;
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
  if (cap > 0) std::memcpy(buf, p.data(), std::min(cap, p.size()));
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

void Tokenizer::partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  out.clear();
  if (text.empty()) return;
  out.push_back({kNoToken, 0, static_cast<uint32_t>(text.size())});
  std::vector<Fragment> next;
  for (const int32_t id : special_) {
    if (!parse_special && types_[id] != TokenType::kUserDefined) continue;
    const std::string& tok = tokens_[id];
    if (text.find(tok) == std::string_view::npos) continue;  // the common case: skip quickly
    next.clear();
    for (const Fragment& f : out) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      uint32_t pos = f.begin;
      while (pos < f.end) {
        const size_t hit = text.substr(0, f.end).find(tok, pos);
        if (hit == std::string_view::npos) break;
        if (hit > pos) next.push_back({kNoToken, pos, static_cast<uint32_t>(hit)});
        next.push_back({id, static_cast<uint32_t>(hit), static_cast<uint32_t>(hit + tok.size())});
        pos = static_cast<uint32_t>(hit + tok.size());
      }
      if (pos < f.end) next.push_back({kNoToken, pos, f.end});
    }
    out.swap(next);
  }
}

Status Tokenizer::encode(std::string_view text, bool add_special, bool parse_special,
                         std::vector<int32_t>& out) const {
  if (text.size() > UINT32_MAX / 4)
    return errorf(Error::kRequestTooLarge, "%s: text of %zu bytes is too long to tokenize", name_.c_str(),
                  text.size());
  if (add_special && add_bos_) out.push_back(bos_);
  std::vector<Fragment> frags;
  partition(text, parse_special, frags);
  bool after_special = true;  // the text start counts as a boundary for the space prefix
  std::string work;
  for (const Fragment& f : frags) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.begin, f.end - f.begin);
    if (kind_ == VocabKind::kSpm) {
      work.clear();
      if (add_space_prefix_ && after_special) work.append(kSpace);
      for (char c : raw) {
        if (c == ' ') work.append(kSpace);
        else work.push_back(c);
      }
      encode_spm(work, out);
    } else {
      AIRT_TRY(encode_bpe(raw, out));
    }
    after_special = false;
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return ok_status();
}

void Tokenizer::emit_bytes(std::string_view bytes, std::vector<int32_t>& out) const {
  for (const char c : bytes) {
    const int32_t id = byte_tokens_[static_cast<uint8_t>(c)];
    if (id != kNoToken) out.push_back(id);
    else if (unk_ != kNoToken) out.push_back(unk_);
  }
}

void Tokenizer::encode_spm(std::string_view s, std::vector<int32_t>& out) const {
  std::vector<Symbol> syms;
  split_chars(s, syms);
  merge_symbols(s, syms, [&](std::string_view, std::string_view, std::string_view joint) -> std::optional<double> {
    const int32_t id = find(joint);
    if (id == kNoToken) return std::nullopt;
    return scores_[id];
  });
  for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    const std::string_view piece_text = s.substr(syms[i].start, syms[i].n);
    const int32_t id = find(piece_text);
    if (id != kNoToken) out.push_back(id);
    else emit_bytes(piece_text, out);  // a character the vocabulary lacks: its bytes
  }
}

Status Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<ByteRange> words;
  AIRT_TRY(pre_->split(text, words));
  std::string mapped;
  for (const ByteRange& w : words) {
    mapped.clear();
    for (uint32_t i = w.begin; i < w.end; ++i) utf8_append(mapped, byte_to_cp(static_cast<uint8_t>(text[i])));
    bpe_word(mapped, out);
  }
  return ok_status();
}

void Tokenizer::bpe_word(std::string_view word, std::vector<int32_t>& out) const {
  if (pre_->ignore_merges()) {
    if (const int32_t id = find(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> syms;
  split_chars(word, syms);
  std::string key;
  merge_symbols(word, syms, [&](std::string_view l, std::string_view r, std::string_view) -> std::optional<double> {
    key.assign(l).append(1, ' ').append(r);
    const auto it = merge_ranks_.find(std::string_view(key));
    if (it == merge_ranks_.end()) return std::nullopt;
    return -static_cast<double>(it->second);
  });
  for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    const std::string_view piece_text = word.substr(syms[i].start, syms[i].n);
    const int32_t id = find(piece_text);
    if (id != kNoToken) {
      out.push_back(id);
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
      if (b >= 0 && byte_tokens_[b] != kNoToken) out.push_back(byte_tokens_[b]);
      k += len;
    }
  }
}

}  // namespace airt::text
