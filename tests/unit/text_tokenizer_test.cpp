#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdio>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/text/pretokenizer.h"
#include "runtime/text/tokenizer.h"
#include "runtime/text/unicode.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"

namespace airt::text {
namespace {

std::vector<int32_t> encode(const Tokenizer& t, std::string_view s, bool add_special = false,
                            bool parse_special = false) {
  std::vector<int32_t> ids;
  const Status st = t.encode(s, add_special, parse_special, ids);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
  return ids;
}

std::unique_ptr<Tokenizer> build(VocabSpec spec) {
  auto t = Tokenizer::create(std::move(spec));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<std::string> split_pieces(std::string_view pre, std::string_view text) {
  auto p = PreTokenizer::create(pre);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  std::vector<ByteRange> r;
  EXPECT_TRUE(p.value()->split(text, r).ok());
  std::vector<std::string> out;
  for (const ByteRange& b : r) out.emplace_back(text.substr(b.begin, b.end - b.begin));
  return out;
}

// ---- SentencePiece-style vocabulary built by hand ---------------------------------------

constexpr const char* kSp = "\xE2\x96\x81";  // U+2581

// <unk> <s> </s>, the 256 byte tokens (ids 3..258), then a few pieces with scores.
VocabSpec tiny_spm() {
  VocabSpec s;
  s.name = "tiny-spm";
  s.kind = VocabKind::kSpm;
  auto add = [&](std::string t, float score, TokenType type) {
    s.tokens.push_back(std::move(t));
    s.scores.push_back(score);
    s.types.push_back(type);
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    add(buf, 0, TokenType::kByte);
  }
  add(kSp, -1.0f, TokenType::kNormal);                      // 259
  add("a", -2.0f, TokenType::kNormal);                      // 260
  add("b", -3.0f, TokenType::kNormal);                      // 261
  add(std::string(kSp) + "a", -0.5f, TokenType::kNormal);   // 262
  add("ab", -0.1f, TokenType::kNormal);                     // 263
  add("<tool>", 0, TokenType::kUserDefined);                // 264
  add("<|turn|>", 0, TokenType::kControl);                  // 265
  s.bos = 1, s.eos = 2, s.unk = 0;
  return s;
}

TEST(SpmTokenizer, MergesByScoreNotByPosition) {
  auto t = build(tiny_spm());
  // "▁ab": both "▁a" (-0.5) and "ab" (-0.1) are tokens; the higher score merges first.
  EXPECT_EQ(encode(*t, "ab"), (std::vector<int32_t>{259, 263}));
  EXPECT_EQ(encode(*t, "a"), (std::vector<int32_t>{262}));
}

TEST(SpmTokenizer, SpacePrefixAndSpaces) {
  auto t = build(tiny_spm());
  EXPECT_EQ(encode(*t, "a a"), (std::vector<int32_t>{262, 262}));
  EXPECT_EQ(encode(*t, " a"), (std::vector<int32_t>{259, 262}));
  EXPECT_TRUE(encode(*t, "").empty());
  EXPECT_EQ(t->decode(encode(*t, " a a")), " a a");
  VocabSpec no_prefix = tiny_spm();
  no_prefix.add_space_prefix = false;
  auto u = build(std::move(no_prefix));
  EXPECT_EQ(encode(*u, "a"), (std::vector<int32_t>{260}));
  EXPECT_EQ(u->decode(encode(*u, " a")), " a");  // nothing to strip when nothing was added
}

TEST(SpmTokenizer, ByteFallbackRoundTrips) {
  auto t = build(tiny_spm());
  // "é" is not a piece: its two UTF-8 bytes become <0xC3> <0xA9>.
  EXPECT_EQ(encode(*t, "\xC3\xA9"), (std::vector<int32_t>{259, 3 + 0xC3, 3 + 0xA9}));
  // Each byte token's piece is one raw byte, an incomplete UTF-8 sequence on its own.
  EXPECT_EQ(t->piece(3 + 0xC3), std::string_view("\xC3", 1));
  EXPECT_EQ(t->piece(3 + 0x0A), "\n");
  for (const std::string& s : std::vector<std::string>{"a\nb", "\xC3\xA9t\xC3\xA9", "tab\there", std::string("nul\0byte", 8), "\xFF\xFE bad utf8"}) {
    EXPECT_EQ(t->decode(encode(*t, s)), s);
  }
}

TEST(SpmTokenizer, SpecialTokens) {
  auto t = build(tiny_spm());
  EXPECT_EQ(encode(*t, "a", true), (std::vector<int32_t>{1, 262}));
  VocabSpec with_eos = tiny_spm();
  with_eos.add_eos = true;
  EXPECT_EQ(encode(*build(std::move(with_eos)), "a", true), (std::vector<int32_t>{1, 262, 2}));

  // Control tokens are text unless special parsing is on.
  const auto plain = encode(*t, "<|turn|>a");
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 265), 0);
  EXPECT_EQ(encode(*t, "<|turn|>a", false, true), (std::vector<int32_t>{265, 262}));
  // User-defined tokens are matched whole either way.
  EXPECT_EQ(encode(*t, "<tool>a"), (std::vector<int32_t>{264, 262}));

  // Control pieces are empty unless asked for; decode follows.
  EXPECT_EQ(t->piece(1), "");
  EXPECT_EQ(t->piece(1, true), "<s>");
  EXPECT_EQ(t->decode(std::vector<int32_t>{1, 262, 2}), "a");
  EXPECT_EQ(t->decode(std::vector<int32_t>{1, 262, 2}, true), "<s> a</s>");
  EXPECT_TRUE(t->is_eog(2));
  EXPECT_FALSE(t->is_eog(1));
  EXPECT_EQ(t->piece(-1), "");
  EXPECT_EQ(t->piece(t->n_vocab()), "");
}

TEST(SpmTokenizer, PieceIntoCallerBuffer) {
  auto t = build(tiny_spm());
  char buf[4] = {0, 0, 0, 0};
  EXPECT_EQ(t->piece(262, buf, sizeof(buf)), 2u);  // " a"
  EXPECT_EQ(std::string(buf, 2), " a");
  char small[1];
  EXPECT_EQ(t->piece(262, small, 1), 2u);  // full size reported, copy truncated
  EXPECT_EQ(small[0], ' ');
  EXPECT_GE(t->max_piece_bytes(), 8u);     // "<|turn|>"
}

TEST(SpmTokenizer, RejectsInconsistentSpecs) {
  VocabSpec s = tiny_spm();
  s.scores.pop_back();
  EXPECT_FALSE(Tokenizer::create(s).ok());
  s = tiny_spm();
  s.bos = 100000;
  auto r = Tokenizer::create(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("bos"), std::string::npos);
  EXPECT_NE(r.error().message.find("tiny-spm"), std::string::npos);
  s = tiny_spm();
  s.bos = kNoToken;  // the kind's default adds BOS, so one is needed
  EXPECT_FALSE(Tokenizer::create(s).ok());
  EXPECT_FALSE(Tokenizer::create(VocabSpec{}).ok());
}

// ---- byte-level BPE vocabulary built by hand ----------------------------------------------

std::string byte_char(uint8_t b) {
  std::string s;
  utf8_append(s, byte_to_cp(b));
  return s;
}

// Token b (0..255) is byte b's character, so single-byte ids equal the byte value.
VocabSpec tiny_bpe() {
  VocabSpec s;
  s.name = "tiny-bpe";
  s.kind = VocabKind::kBpe;
  s.pre = "gpt-2";
  for (int b = 0; b < 256; ++b) s.tokens.push_back(byte_char(static_cast<uint8_t>(b)));
  const std::string G = byte_char(' ');  // "Ġ"
  for (const std::string& m : std::vector<std::string>{"l o", "l l", "h e", "he l", "hel lo", G + " w", "Ġw o"}) {
    s.merges.push_back(m);
    s.tokens.push_back(m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1));
  }
  s.tokens.push_back("<|endoftext|>");
  s.types.assign(s.tokens.size(), TokenType::kNormal);
  s.types.back() = TokenType::kControl;
  s.eos = s.bos = static_cast<int32_t>(s.tokens.size() - 1);
  return s;
}

TEST(BpeTokenizer, ByteAlphabetIsAReversibleMapping) {
  EXPECT_EQ(byte_to_cp('A'), uint32_t('A'));
  EXPECT_EQ(byte_to_cp(' '), 0x120u);   // Ġ
  EXPECT_EQ(byte_to_cp('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(byte_to_cp(0xAD), 0x143u);  // the soft hyphen is not printable
  for (int b = 0; b < 256; ++b) EXPECT_EQ(cp_to_byte(byte_to_cp(static_cast<uint8_t>(b))), b);
  EXPECT_EQ(cp_to_byte(0x4E00), -1);
}

TEST(BpeTokenizer, MergesByRank) {
  auto t = build(tiny_bpe());
  // "llo": "l o" (rank 0) beats "l l" (rank 1) although it is further right.
  EXPECT_EQ(encode(*t, "llo"), (std::vector<int32_t>{'l', 256}));
  // "hello": he -> hel -> ... "hel lo" -> one token.
  EXPECT_EQ(encode(*t, "hello"), (std::vector<int32_t>{260}));
  // " wo" is one word for the pre-tokenizer: Ġ w -> Ġw, Ġw o -> Ġwo.
  EXPECT_EQ(encode(*t, "hello wox"), (std::vector<int32_t>{260, 262, 'x'}));
}

TEST(BpeTokenizer, RoundTripsAnyBytes) {
  auto t = build(tiny_bpe());
  EXPECT_EQ(encode(*t, "\n"), (std::vector<int32_t>{'\n'}));
  for (const std::string& s : std::vector<std::string>{"hello world\n\n", "\xE4\xBD\xA0\xE5\xA5\xBD", "\xFF\xC3 broken \xE2\x82", "  x  ",
                        std::string("\0\x01", 2)}) {
    EXPECT_EQ(t->decode(encode(*t, s)), s);
  }
  EXPECT_EQ(t->piece(0xE4), std::string_view("\xE4", 1));
}

TEST(BpeTokenizer, DefaultsAndSpecials) {
  auto t = build(tiny_bpe());
  EXPECT_FALSE(t->add_bos());  // gpt2-style vocabularies add no BOS by default
  EXPECT_EQ(encode(*t, "a", true), (std::vector<int32_t>{'a'}));
  const int32_t eot = t->n_vocab() - 1;
  EXPECT_TRUE(t->is_eog(eot));
  EXPECT_EQ(encode(*t, "a<|endoftext|>", false, true), (std::vector<int32_t>{'a', eot}));
  EXPECT_GT(encode(*t, "a<|endoftext|>", false, false).size(), 2u);
  VocabSpec l3 = tiny_bpe();
  l3.pre = "llama-bpe";
  EXPECT_TRUE(build(std::move(l3))->add_bos());
  VocabSpec bad = tiny_bpe();
  bad.merges.push_back("nospace");
  EXPECT_FALSE(Tokenizer::create(bad).ok());
  bad = tiny_bpe();
  bad.pre = "no-such-pre";
  auto r = Tokenizer::create(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no-such-pre"), std::string::npos);
  EXPECT_NE(r.error().message.find("qwen2"), std::string::npos);  // lists the known ones
}

// ---- pre-tokenizers ------------------------------------------------------------------------

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(split_pieces("gpt-2", "Hello world's 123 ok!!"),
            (Pieces{"Hello", " world", "'s", " 123", " ok", "!!"}));
  // A run of spaces leaves its last one to the next word.
  EXPECT_EQ(split_pieces("gpt-2", "a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(split_pieces("gpt-2", "a \n"), (Pieces{"a", " \n"}));
  EXPECT_TRUE(split_pieces("gpt-2", "").empty());
}

TEST(PreTokenizer, DigitsPerFamily) {
  EXPECT_EQ(split_pieces("llama-bpe", "x 1234567"), (Pieces{"x", " ", "123", "456", "7"}));
  EXPECT_EQ(split_pieces("qwen2", "x 123"), (Pieces{"x", " ", "1", "2", "3"}));
  EXPECT_EQ(split_pieces("starcoder", "a 12"), (Pieces{"a", " ", "1", "2"}));
  EXPECT_EQ(split_pieces("mpt", "a 12"), (Pieces{"a", " 12"}));
}

TEST(PreTokenizer, Llama3Contractions) {
  EXPECT_EQ(split_pieces("llama3", "I'M here\n\nok"), (Pieces{"I", "'M", " here", "\n\n", "ok"}));
}

TEST(PreTokenizer, DeepseekLlm) {
  // Newlines alone, letters with one leading space, CJK runs, digits.
  EXPECT_EQ(split_pieces("deepseek-llm", "Hi there\n\xE4\xBD\xA0\xE5\xA5\xBD 42"),
            (Pieces{"Hi", " there", "\n", "\xE4\xBD\xA0\xE5\xA5\xBD", " ", "42"}));
}

TEST(PreTokenizer, EveryByteIsCoveredEvenInvalidUtf8) {
  for (std::string_view pre : PreTokenizer::known_names()) {
    const std::string text = "ab \xFF\xFE 12 \xC3(\xE4\xBD \n\t x\xF0\x9F\x98\x81y";
    std::string joined;
    for (const auto& p : split_pieces(pre, text)) {
      EXPECT_FALSE(p.empty()) << pre;
      joined += p;
    }
    EXPECT_EQ(joined, text) << pre;
  }
}

// The span API, with JIT and on PCRE2's interpreter (the path of a libpcre2 without JIT,
// whose backtracking frames come from the scratch too), gives the vector API's pieces for
// every known pre-tokenizer.
TEST(PreTokenizer, SpanSplitOnJitAndInterpreterAgree) {
  const std::vector<std::string> texts = {
      "Hello world's 123 ok!!",  "  \n\n\t x  ",
      "3333333333 + 4.5e-3",     "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96",
      "I'VE we'd THEY'LL",       "\xFF\xC3 broken \xE2\x82 utf8",
      "tabs\tand\r\nnewlines\n", std::string(300, ' ') + "x"};
  std::vector<std::max_align_t> mem(MatchScratch::kBytes / sizeof(std::max_align_t) + 1);
  auto scratch = MatchScratch::create(std::as_writable_bytes(std::span(mem)));
  ASSERT_TRUE(scratch.ok()) << scratch.error().message;
  for (std::string_view name : PreTokenizer::known_names()) {
    auto jit = PreTokenizer::create(name);
    auto interp = PreTokenizer::create(name, false);
    ASSERT_TRUE(jit.ok() && interp.ok()) << name;
    for (const std::string& t : texts) {
      std::vector<ByteRange> want;
      ASSERT_TRUE(jit.value()->split(t, want).ok());
      std::vector<ByteRange> a(t.size()), b(t.size());
      for (const auto* p : {jit.value().get(), interp.value().get()}) {
        auto got = p->split(t, a, b, *scratch);
        ASSERT_TRUE(got.ok()) << name << ": " << got.error().message;
        ASSERT_EQ(got.value().size(), want.size()) << name << ": " << t;
        for (size_t i = 0; i < want.size(); ++i) {
          EXPECT_EQ(got.value()[i].begin, want[i].begin) << name << ": " << t;
          EXPECT_EQ(got.value()[i].end, want[i].end) << name << ": " << t;
        }
      }
    }
  }
  EXPECT_LE(scratch->bytes_used(), MatchScratch::kBytes);
  std::printf("PCRE2 took %zu of the scratch's %zu bytes\n", scratch->bytes_used(),
              MatchScratch::kBytes);
}

// ---- real vocabularies -------------------------------------------------------------------

std::vector<std::string> split_tests(const std::string& s) {
  static const std::string kSep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t p = 0;
  for (size_t q; (q = s.find(kSep, p)) != std::string::npos; p = q + kSep.size()) out.push_back(s.substr(p, q - p));
  out.push_back(s.substr(p));
  return out;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string ids_line(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += ' ';
    s += std::to_string(id);
  }
  return s;
}

std::unique_ptr<Tokenizer> load(const std::string& path) {
  auto f = gguf::File::open(path);
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
  if (!f.ok()) return nullptr;
  auto t = Tokenizer::from_gguf(*f.value());
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(t).value() : nullptr;
}

class VocabFile : public ::testing::TestWithParam<const char*> {};

// NAME.gguf.inp holds the test strings, NAME.gguf.out the expected ids line by line (no
// BOS/EOS, special tokens not parsed). Every string must give exactly those ids, and
// decoding them must give the string back.
//
// Round-trip exceptions: none. Every vocabulary here decodes all 46 strings back byte for
// byte: SentencePiece vocabularies spell unknown characters with byte tokens and decode()
// drops the one space the encoder prepends; byte-level BPE maps every byte. (airt does not
// apply the "clean up tokenization spaces" rule some decoders use, because it is lossy.)
TEST_P(VocabFile, MatchesReferenceIdsAndRoundTrips) {
  const std::string name = GetParam();
  const std::string path = test::model_path("vocab/ggml-vocab-" + name + ".gguf");
  AIRT_REQUIRE_FILE(path);
  auto tok = load(path);
  ASSERT_TRUE(tok);
  const auto inputs = split_tests(test::read_text(path + ".inp"));
  const auto expected = lines_of(test::read_text(path + ".out"));
  ASSERT_GE(inputs.size(), expected.size());
  ASSERT_GT(expected.size(), 40u);
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto ids = encode(*tok, inputs[i]);
    EXPECT_EQ(ids_line(ids), expected[i]) << name << " case " << i << ": \"" << inputs[i] << "\"";
    EXPECT_EQ(tok->decode(ids), inputs[i]) << name << " case " << i;
  }
}

// Random mixtures of words, whitespace, multi-byte characters and digits (deterministic
// LCG). Valid UTF-8 must round-trip in every vocabulary. Invalid UTF-8 bytes round-trip
// where the vocabulary can spell every byte (SentencePiece byte tokens, GPT-2's full byte
// alphabet); the exceptions, both properties of the vocabulary files:
//  - starcoder, mpt, refact have no character for the bytes 0xC0, 0xC1, 0xF5..0xFF (and
//    refact/starcoder 0xF1), which never occur in valid UTF-8: such bytes are dropped.
//  - deepseek-llm spells those bytes with user-defined tokens ("ø", "ÿ", ...) whose text
//    is the character itself, so a stray 0xFF decodes as "ÿ" (C3 BF).
// Not exercised here: a SentencePiece vocabulary prepends a space to text that follows a
// special or user-defined token ("</s>x" in phi-3 decodes as "</s> x"), as llama.cpp does.
TEST_P(VocabFile, RandomTextRoundTrips) {
  const std::string name = GetParam();
  const std::string path = test::model_path("vocab/ggml-vocab-" + name + ".gguf");
  AIRT_REQUIRE_FILE(path);
  auto tok = load(path);
  ASSERT_TRUE(tok);
  const bool all_bytes = name == "llama-spm" || name == "phi-3" || name == "gpt-2";
  const char* valid[] = {" ", "  ", "\n", "\t", "a", "Z", "\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x81", "1",
                         "42", "'s", "!!", "hello", " world", "\r\n", "\xD0\xBD\xD0\xB0", "(", "...", "x"};
  const char* invalid[] = {"\xFF", "\xC3", "\xE2\x82", "\xF0\x9F", "\x80"};
  uint32_t x = 12345;
  auto next = [&] { return (x = x * 1664525u + 1013904223u) >> 8; };
  for (int it = 0; it < 400; ++it) {
    std::string s;
    const uint32_t n = next() % 12;
    for (uint32_t k = 0; k < n; ++k) {
      const uint32_t r = next();
      s += (all_bytes && r % 6 == 0) ? invalid[(r / 6) % 5] : valid[(r / 6) % 20];
    }
    const auto ids = encode(*tok, s);
    ASSERT_EQ(tok->decode(ids), s) << name << ": " << ids_line(ids);
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, VocabFile,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "starcoder", "mpt", "refact",
                                           "deepseek-llm"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

TEST(VocabFile, KindsAndSpecialIdsFromMetadata) {
  const std::string spm = test::model_path("vocab/ggml-vocab-llama-spm.gguf");
  AIRT_REQUIRE_FILE(spm);
  auto t = load(spm);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind(), VocabKind::kSpm);
  EXPECT_EQ(t->n_vocab(), 32000);
  EXPECT_EQ(t->bos(), 1);
  EXPECT_EQ(t->eos(), 2);
  EXPECT_EQ(t->unk(), 0);
  EXPECT_TRUE(t->add_bos());
  EXPECT_TRUE(t->add_space_prefix());
  EXPECT_EQ(t->type(13), TokenType::kByte);
  EXPECT_EQ(t->piece(13), "\n");

  const std::string bpe = test::model_path("vocab/ggml-vocab-deepseek-llm.gguf");
  AIRT_REQUIRE_FILE(bpe);
  auto d = load(bpe);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind(), VocabKind::kBpe);
  EXPECT_EQ(d->bos(), 100000);
  EXPECT_TRUE(d->add_bos());  // the file says so
  EXPECT_TRUE(d->is_eog(100001));
}

// The reference token files: one line per prompt, BOS included where the vocabulary adds
// one. prompts.txt feeds the stories models, prompts2.txt (prompts.txt lines 2-3) the
// synthetic ones (see ../shared/reference/README.md).
void check_model_prompts(const char* model, const char* prompts, const char* tokens) {
  const std::string path = test::model_path(model);
  const std::string ref = test::reference_dir();
  if (path.empty() || ref.empty()) GTEST_SKIP() << "shared test data not found";
  auto tok = load(path);
  ASSERT_TRUE(tok);
  std::vector<std::string> texts;
  for (auto& l : lines_of(test::read_text(ref + "/" + prompts))) {
    if (!l.empty()) texts.push_back(l);
  }
  const auto expected = test::read_token_lines(ref + "/" + tokens);
  ASSERT_EQ(texts.size(), expected.size()) << model;
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(encode(*tok, texts[i], true), expected[i]) << model << " prompt " << i;
    EXPECT_EQ(tok->decode(expected[i]), texts[i]) << model << " prompt " << i;
  }
}

TEST(ModelPrompts, Stories260K) { check_model_prompts("stories260K.gguf", "prompts.txt", "stories260K.tokens"); }
TEST(ModelPrompts, Llama2xs) { check_model_prompts("llama2xs-vocab512.gguf", "prompts.txt", "llama2xs.tokens"); }
TEST(ModelPrompts, SynthQwen2) {
  check_model_prompts("synth-qwen2-small-f16.gguf", "prompts2.txt", "synth-qwen2-small.tokens");
}
TEST(ModelPrompts, SynthLlamaMid) {
  check_model_prompts("synth-llama-mid-q8_0.gguf", "prompts2.txt", "synth-llama-mid.tokens");
}

// ---- encode into caller memory ----------------------------------------------------------

// A workspace in a buffer the test owns.
struct OwnedWorkspace {
  std::vector<std::max_align_t> mem;
  Tokenizer::Workspace ws;
  explicit OwnedWorkspace(size_t max_text_bytes)
      : mem(Tokenizer::Workspace::bytes(max_text_bytes) / sizeof(std::max_align_t) + 1),
        ws(Tokenizer::Workspace::create(std::as_writable_bytes(std::span(mem)), max_text_bytes)
               .value()) {}
};

// Every reference string of every vocabulary through the workspace API, three ways (plain,
// with BOS/EOS, with special parsing), with the allocation counter armed: no allocation,
// and the ids of the vector API (which the reference test pins).
TEST_P(VocabFile, WorkspaceEncodeAllocatesNothingAndMatches) {
  const std::string name = GetParam();
  const std::string path = test::model_path("vocab/ggml-vocab-" + name + ".gguf");
  AIRT_REQUIRE_FILE(path);
  auto tok = load(path);
  ASSERT_TRUE(tok);
  const auto inputs = split_tests(test::read_text(path + ".inp"));
  const auto expected = lines_of(test::read_text(path + ".out"));
  size_t longest = 0;
  for (const auto& in : inputs) longest = std::max(longest, in.size());
  OwnedWorkspace ws(longest);
  const size_t cap = Tokenizer::max_tokens(longest);
  const size_t n_runs = inputs.size() * 3;
  std::vector<int32_t> ids(n_runs * cap);
  std::vector<size_t> counts(n_runs, 0);
  std::vector<uint8_t> ok(n_runs, 0);
  {
    test::AllocScope counter;
    for (size_t i = 0; i < n_runs; ++i) {
      const size_t how = i % 3;
      const Result<size_t> n = tok->encode(inputs[i / 3], how == 1, how == 2,
                                           std::span(ids).subspan(i * cap, cap), ws.ws);
      ok[i] = n.ok();
      counts[i] = n.ok() ? n.value() : 0;
    }
    EXPECT_EQ(counter.count(), 0) << name << ": heap allocations while encoding " << inputs.size()
                                  << " strings";
  }
  for (size_t i = 0; i < n_runs; ++i) {
    ASSERT_TRUE(ok[i]) << name << " case " << i / 3;
    const std::vector<int32_t> got(ids.begin() + i * cap, ids.begin() + i * cap + counts[i]);
    const size_t how = i % 3;
    EXPECT_EQ(got, encode(*tok, inputs[i / 3], how == 1, how == 2))
        << name << " case " << i / 3 << " mode " << how;
    if (how == 0 && i / 3 < expected.size()) {
      EXPECT_EQ(ids_line(got), expected[i / 3]) << name << " case " << i / 3;
    }
  }
}

TEST(TokenizerWorkspace, RefusesTextsAndIdsBeyondItsBounds) {
  auto t = build(tiny_spm());
  OwnedWorkspace ws(8);
  std::vector<int32_t> out(Tokenizer::max_tokens(8));
  auto r = t->encode("a a a a a", false, false, out, ws.ws);  // 9 bytes
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::kRequestTooLarge);
  EXPECT_NE(r.error().message.find("9 bytes"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("8 bytes"), std::string::npos) << r.error().message;

  // "a a a" is BOS + 3 tokens: room for 3 is too little, and the message says how many.
  std::vector<int32_t> small(3);
  r = t->encode("a a a", true, false, small, ws.ws);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::kRequestTooLarge);
  EXPECT_NE(r.error().message.find("gives 4 tokens"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("room for"), std::string::npos) << r.error().message;
  std::vector<int32_t> exact(4);
  r = t->encode("a a a", true, false, exact, ws.ws);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::vector<int32_t>(exact.begin(), exact.begin() + r.value()),
            encode(*t, "a a a", true));

  // Memory too small or misaligned for the bound is refused, not overrun.
  std::vector<std::max_align_t> mem(Tokenizer::Workspace::bytes(100) / sizeof(std::max_align_t));
  EXPECT_TRUE(Tokenizer::Workspace::create(std::as_writable_bytes(std::span(mem)), 100).ok());
  EXPECT_FALSE(Tokenizer::Workspace::create(std::as_writable_bytes(std::span(mem)), 101).ok());
  EXPECT_FALSE(
      Tokenizer::Workspace::create(std::as_writable_bytes(std::span(mem)).subspan(1), 10).ok());
}

// max_tokens() holds for the worst SentencePiece case: a vocabulary without U+2581, spaces
// after special tokens (each gets the prefix space too), every space spelt as 3 byte tokens.
TEST(TokenizerWorkspace, MaxTokensBoundsTheWorstCase) {
  VocabSpec spec = tiny_spm();
  spec.tokens[259] = "not-a-space";
  auto t = build(std::move(spec));
  for (const std::string s : {" ", "   ", "<|turn|> <|turn|> ", "\xE2\x96\x81 \xE2\x96\x81"}) {
    std::vector<int32_t> out(Tokenizer::max_tokens(s.size()));
    OwnedWorkspace ws(s.size());
    auto n = t->encode(s, true, true, out, ws.ws);
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_LE(n.value(), Tokenizer::max_tokens(s.size()));
    EXPECT_EQ(std::vector<int32_t>(out.begin(), out.begin() + n.value()),
              encode(*t, s, true, true));
  }
}

TEST(TokenizerWorkspace, CarvedFromAnArena) {
  auto t = build(tiny_bpe());
  const size_t bytes = Tokenizer::Workspace::bytes(64);
  EXPECT_EQ(bytes % 64, 0u);
  auto arena = Arena::reserve(bytes);
  ASSERT_TRUE(arena.ok());
  auto ws = Tokenizer::Workspace::carve(*arena, 64);
  ASSERT_TRUE(ws.ok()) << ws.error().message;
  EXPECT_EQ(arena->used(), bytes);
  EXPECT_EQ(ws->max_text_bytes(), 64u);
  std::vector<int32_t> out(Tokenizer::max_tokens(64));
  auto n = t->encode("hello world", false, false, out, *ws);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::vector<int32_t>(out.begin(), out.begin() + n.value()), encode(*t, "hello world"));
  auto full = Tokenizer::Workspace::carve(*arena, 64);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Error::kResourceOutOfMemory);
}

// ---- pieces and hostile metadata ---------------------------------------------------------

// A hidden piece is an empty view with no data pointer: nothing is copied (UBSan checks
// that memcpy never sees the null pointer) and the caller's buffer is untouched.
TEST(SpmTokenizer, EmptyPieceIntoCallerBuffer) {
  auto t = build(tiny_spm());
  char buf[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(t->piece(1, buf, sizeof(buf)), 0u);  // <s>, a control token
  EXPECT_EQ(t->piece(-5, buf, sizeof(buf)), 0u);
  EXPECT_EQ(t->piece(t->n_vocab(), buf, sizeof(buf)), 0u);
  EXPECT_EQ(std::string(buf, 4), "xxxx");
  EXPECT_EQ(t->piece(1, buf, sizeof(buf), true), 3u);
  EXPECT_EQ(std::string(buf, 3), "<s>");
}

// A small but complete SentencePiece vocabulary file.
gguf::Writer vocab_writer() {
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_array_string("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.set_array_f32("tokenizer.ggml.scores", {0, 0, 0, -1});
  w.set_array_i32("tokenizer.ggml.token_type", {2, 3, 3, 1});
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  return w;
}

Result<std::unique_ptr<Tokenizer>> from_image(const std::vector<uint8_t>& image) {
  auto f = gguf::File::parse(image.data(), image.size(), "hostile.gguf");
  if (!f.ok()) return std::move(f).error();
  return Tokenizer::from_gguf(*f.value());
}

TEST(VocabFile, MistypedMetadataIsAnErrorNamingKeyAndTypes) {
  ASSERT_TRUE(from_image(vocab_writer().serialize()).ok());
  struct Case {
    const char* key;
    void (*spoil)(gguf::Writer&);
    const char* expected;
    const char* actual;
  };
  const Case cases[] = {
      {"tokenizer.ggml.token_type",
       [](gguf::Writer& w) {
         w.set_array_f32("tokenizer.ggml.token_type", {2, 3, 3, 1});
       },
       "expected an array of i32", "array of f32"},
      {"tokenizer.ggml.token_type",
       [](gguf::Writer& w) { w.set_u32("tokenizer.ggml.token_type", 1); },
       "expected an array of i32", "is u32"},
      {"tokenizer.ggml.token_type",
       [](gguf::Writer& w) {
         w.set_array_string("tokenizer.ggml.token_type", {"a", "b", "c", "d"});
       },
       "expected an array of i32", "array of string"},
      {"tokenizer.ggml.scores",
       [](gguf::Writer& w) {
         w.set_array_i32("tokenizer.ggml.scores", {0, 0, 0, 1});
       },
       "expected an array of f32", "array of i32"},
      {"tokenizer.ggml.tokens",
       [](gguf::Writer& w) {
         w.set_array_i32("tokenizer.ggml.tokens", {0, 1, 2, 3});
       },
       "expected an array of string", "array of i32"},
      {"tokenizer.ggml.model", [](gguf::Writer& w) { w.set_u32("tokenizer.ggml.model", 1); },
       "expected a string", "is u32"},
      {"tokenizer.ggml.pre", [](gguf::Writer& w) { w.set_u32("tokenizer.ggml.pre", 1); },
       "expected a string", "is u32"},
      {"tokenizer.ggml.bos_token_id",
       [](gguf::Writer& w) { w.set_f32("tokenizer.ggml.bos_token_id", 1.0f); },
       "expected an integer token id", "is f32"},
      {"tokenizer.ggml.eos_token_id",
       [](gguf::Writer& w) { w.set_string("tokenizer.ggml.eos_token_id", "2"); },
       "expected an integer token id", "is string"},
      {"tokenizer.ggml.add_bos_token",
       [](gguf::Writer& w) { w.set_string("tokenizer.ggml.add_bos_token", "yes"); },
       "expected a bool", "is string"},
      {"tokenizer.ggml.add_space_prefix",
       [](gguf::Writer& w) { w.set_f64("tokenizer.ggml.add_space_prefix", 1); }, "expected a bool",
       "is f64"},
  };
  for (const Case& c : cases) {
    gguf::Writer w = vocab_writer();
    c.spoil(w);
    auto t = from_image(w.serialize());
    ASSERT_FALSE(t.ok()) << c.key << " " << c.actual;
    EXPECT_EQ(t.error().code, Error::kFormatInvalid) << t.error().message;
    const std::string& m = t.error().message;
    EXPECT_NE(m.find("hostile.gguf"), std::string::npos) << m;
    EXPECT_NE(m.find(c.key), std::string::npos) << m;
    EXPECT_NE(m.find(c.expected), std::string::npos) << m;
    EXPECT_NE(m.find(c.actual), std::string::npos) << m;
  }
  // The merges of a byte-level vocabulary are checked the same way.
  gguf::Writer w = vocab_writer();
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_array_i32("tokenizer.ggml.merges", {1});
  auto t = from_image(w.serialize());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("tokenizer.ggml.merges"), std::string::npos)
      << t.error().message;
  EXPECT_NE(t.error().message.find("array of i32"), std::string::npos) << t.error().message;
}

// Any integer element type is a valid token_type array (llama.cpp writes i32; others u8).
TEST(VocabFile, TokenTypesOfAnyIntegerType) {
  gguf::Writer w = vocab_writer();
  w.set_array_u8("tokenizer.ggml.token_type", {2, 3, 3, 1});
  auto t = from_image(w.serialize());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t.value()->type(1), TokenType::kControl);
  EXPECT_EQ(t.value()->type(3), TokenType::kNormal);
}

}  // namespace
}  // namespace airt::text
