// libFuzzer target for the tokenizers: a SentencePiece vocabulary (with and without the
// space prefix) and byte-level BPE vocabularies under several pre-tokenizers, all built
// here from plain data so the target needs no files; the vocabularies in
// ../shared/models/vocab/*.gguf (or $AIRT_FUZZ_VOCAB_DIR) are added when present.
//
// Input: byte 0 picks the vocabulary, byte 1 the flags (add_special, parse_special,
// decode special), the rest is the text. Checks: encode gives ids inside the vocabulary,
// every piece fits max_piece_bytes(), and decode(encode(text)) == text where the
// vocabulary promises it (the built-in ones, plain text, no special parsing).
#include <dirent.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/text/tokenizer.h"
#include "runtime/text/unicode.h"
#include "tests/fuzz/fuzz_support.h"

namespace airt {
namespace {

using text::TokenType;
using text::Tokenizer;
using text::VocabSpec;

struct Vocab {
  std::unique_ptr<Tokenizer> tok;
  bool roundtrip;  // decode(encode(s)) == s holds for plain text
};
std::vector<Vocab>* g_vocabs = nullptr;

const char* const kWords[] = {"the", "he", "in", "an", "and", "on", "ing", "er", "re", "at", "12", "00", "é", "日本"};

void add(Result<std::unique_ptr<Tokenizer>> t, bool roundtrip, std::vector<Vocab>& out) {
  if (!t.ok()) std::fprintf(stderr, "tokenizer_fuzz: %s\n", t.error().message.c_str());
  fuzz::check(t.ok(), "the built-in vocabularies are valid");
  out.push_back({std::move(*t), roundtrip});
}

Result<std::unique_ptr<Tokenizer>> make_spm(bool space_prefix) {
  VocabSpec s;
  s.name = space_prefix ? "spm" : "spm-no-prefix";
  s.kind = text::VocabKind::kSpm;
  s.tokens = {"<unk>", "<s>", "</s>", "<|im_start|>", "<tool>"};
  s.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl, TokenType::kControl,
             TokenType::kUserDefined};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    s.tokens.push_back(buf);
    s.types.push_back(TokenType::kByte);
  }
  const std::string sp = "\xE2\x96\x81";
  for (char c = 'a'; c <= 'z'; ++c) s.tokens.push_back(std::string(1, c)), s.types.push_back(TokenType::kNormal);
  for (const char* w : kWords) {
    for (const std::string& t : {std::string(w), sp + w}) {
      s.tokens.push_back(t);
      s.types.push_back(TokenType::kNormal);
    }
  }
  s.tokens.push_back(sp);
  s.types.push_back(TokenType::kNormal);
  for (size_t i = 0; i < s.tokens.size(); ++i) s.scores.push_back(-float(i % 97));
  s.bos = 1;
  s.eos = 2;
  s.unk = 0;
  s.add_space_prefix = space_prefix;
  return Tokenizer::create(std::move(s));
}

// GPT-2's byte alphabet, then merges that build kWords (with and without a leading space).
Result<std::unique_ptr<Tokenizer>> make_bpe(const char* pre) {
  VocabSpec s;
  s.name = std::string("bpe-") + pre;
  s.kind = text::VocabKind::kBpe;
  s.pre = pre;
  for (int b = 0; b < 256; ++b) {
    std::string t;
    text::utf8_append(t, text::byte_to_cp(uint8_t(b)));
    s.tokens.push_back(t);
  }
  auto visible = [](std::string_view bytes) {
    std::string t;
    for (unsigned char c : bytes) text::utf8_append(t, text::byte_to_cp(c));
    return t;
  };
  for (const char* w : kWords) {
    for (const std::string& word : {std::string(w), std::string(" ") + w}) {
      // Left-to-right merges: ((a b) c) ...; each prefix becomes a token.
      std::string left = visible(word.substr(0, 1));
      for (size_t i = 1; i < word.size(); ++i) {
        const std::string right = visible(word.substr(i, 1));
        const std::string merged = left + right;
        bool known = false;
        for (const std::string& t : s.tokens) known = known || t == merged;
        if (!known) {
          s.merges.push_back(left + " " + right);
          s.tokens.push_back(merged);
        }
        left = merged;
      }
    }
  }
  s.tokens.push_back("<|begin_of_text|>");
  s.tokens.push_back("<|endoftext|>");
  s.types.assign(s.tokens.size(), TokenType::kNormal);
  s.types.end()[-2] = s.types.end()[-1] = TokenType::kControl;
  s.bos = int32_t(s.tokens.size()) - 2;  // llama3-style pre-tokenizers add a BOS
  s.eos = int32_t(s.tokens.size()) - 1;
  return Tokenizer::create(std::move(s));
}

void add_shared_vocabs(std::vector<Vocab>& out) {
  const char* env = std::getenv("AIRT_FUZZ_VOCAB_DIR");
  const std::string dir = env && *env ? env : std::string(AIRT_SOURCE_DIR) + "/../shared/models/vocab";
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".gguf") == 0) names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());  // the same input picks the same vocabulary
  for (const std::string& n : names) {
    auto f = gguf::File::open(dir + "/" + n);
    if (!f.ok()) continue;
    auto t = Tokenizer::from_gguf(**f);
    if (t.ok()) add(std::move(t), false, out);
  }
  std::fprintf(stderr, "tokenizer_fuzz: %zu vocabularies from %s\n", names.size(), dir.c_str());
}

void write_seeds() {
  const char* texts[] = {"Once upon a time", "  the  cat\n\nsat\t on 12345 mats.", "<s>hi</s><|im_start|>user",
                         "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80!", "\xFF\xFE broken \xC3",
                         "<|endoftext|><tool>x"};
  int i = 0;
  for (const char* t : texts) {
    for (int v = 0; v < 8; v += 3) {
      std::string in;
      in.push_back(char(v));
      in.push_back(char(i % 8));
      in += t;
      fuzz::write_seed("seed-" + std::to_string(i) + "-" + std::to_string(v), in);
    }
    ++i;
  }
}

}  // namespace
}  // namespace airt

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace airt;
  g_vocabs = new std::vector<Vocab>();
  for (bool prefix : {true, false}) add(make_spm(prefix), true, *g_vocabs);
  for (const char* pre : {"default", "gpt-2", "llama3", "qwen2", "deepseek-llm", "starcoder"})
    add(make_bpe(pre), true, *g_vocabs);
  add_shared_vocabs(*g_vocabs);
  write_seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace airt;
  if (size < 2) return 0;
  const Vocab& v = (*g_vocabs)[data[0] % g_vocabs->size()];
  const bool add_special = data[1] & 1, parse_special = data[1] & 2, decode_special = data[1] & 4;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  std::vector<int32_t> ids;
  if (!v.tok->encode(text, add_special, parse_special, ids).ok()) return 0;
  // Plain text round-trips. Not promised: SentencePiece spells spaces as U+2581, so text
  // holding one decodes to a space; and after a user-defined token it prefixes the next
  // text with a space, as llama.cpp does.
  bool plain = text.find("\xE2\x96\x81") == std::string_view::npos;
  for (int32_t id : ids) {
    fuzz::check(id >= 0 && id < v.tok->n_vocab(), "encode gives ids inside the vocabulary");
    fuzz::check(v.tok->piece(id, decode_special).size() <= v.tok->max_piece_bytes(), "piece fits max_piece_bytes");
    const TokenType t = v.tok->type(id);
    plain = plain && (t == TokenType::kNormal || t == TokenType::kByte);
  }
  const std::string back = v.tok->decode(ids, decode_special);
  if (v.roundtrip && plain && !add_special && !parse_special && !decode_special)
    fuzz::check(back == text, "decode(encode(text)) == text");
  return 0;
}
