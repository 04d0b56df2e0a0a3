#include "runtime/text/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

#include "runtime/text/unicode.h"

namespace airt::text {
namespace {

// The regexes, as published with each tokenizer (HF tokenizer.json pre_tokenizers), written
// with \x{...} escapes. The case-insensitive contraction group of the originals is spelt out
// so that it does not depend on how a regex engine scopes (?i).
constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// Same as llama3 but every digit is its own piece.
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// DeepSeek LLM's letter class: the cased letters (Lu, Ll, Lt) as explicit ranges.
constexpr const char* kDeepseekLetters =
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"
    "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"
    "\\x{1E900}-\\x{1E943}]+";
constexpr const char* kDeepseekPunct =
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+";
constexpr const char* kCjk = "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

struct Recipe {
  std::array<std::string_view, 8> names;  // aliases of tokenizer.ggml.pre
  std::array<const char*, 6> regexes;     // applied in order; nullptr ends the list
  bool ignore_merges;
};

const Recipe kRecipes[] = {
    {{"default"},
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"},
     false},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe", "glm4"},
     {kLlama3},
     true},
    {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {kQwen2}, false},
    {{"deepseek-llm"},
     {"[\\r\\n]", kDeepseekLetters, kDeepseekPunct, "\\s+$", kCjk, "\\p{N}+"},
     false},
    {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"}, false},
    {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}, false},
    // Every digit alone first, then the GPT-2 rules inside each piece.
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {"\\p{N}", kGpt2},
     false},
    {{"gpt-2", "mpt", "olmo", "jais", "phi-2", "jina-es", "jina-de", "gigachat"}, {kGpt2}, false},
    {{"poro-chat", "bloom", "gpt3-finnish"}, {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"}, false},
    {{"viking"}, {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+", "\\p{N}"}, false},
};

const Recipe* find_recipe(std::string_view pre) {
  if (pre.empty()) pre = "default";
  for (const Recipe& r : kRecipes) {
    for (std::string_view n : r.names) {
      if (!n.empty() && n == pre) return &r;
    }
  }
  return nullptr;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::known_names() {
  std::vector<std::string_view> names;
  for (const Recipe& r : kRecipes) {
    for (std::string_view n : r.names) {
      if (!n.empty()) names.push_back(n);
    }
  }
  return names;
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(std::string_view pre, bool jit) {
  const Recipe* recipe = find_recipe(pre);
  if (!recipe) {
    std::string known;
    for (std::string_view n : known_names()) {
      if (!known.empty()) known += ", ";
      known += n;
    }
    return errorf(Error::kFormatUnsupported,
                  "tokenizer.ggml.pre '%.*s' is not a pre-tokenizer airt knows (known: %s); "
                  "a vocabulary converted with a newer tool may need a newer airt",
                  static_cast<int>(pre.size()), pre.data(), known.c_str());
  }
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  p->ignore_merges_ = recipe->ignore_merges;
  // DOLLAR_ENDONLY: "$" means the end of the piece, never "before a final newline".
  const uint32_t options =
      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
  for (const char* pattern : recipe->regexes) {
    if (!pattern) break;
    int err = 0;
    PCRE2_SIZE err_at = 0;
    auto rx = std::make_unique<Regex>();
    rx->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED, options,
                             &err, &err_at, nullptr);
    if (!rx->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return errorf(Error::kInternal, "pre-tokenizer '%.*s': regex does not compile at %zu: %s",
                    static_cast<int>(pre.size()), pre.data(), static_cast<size_t>(err_at),
                    reinterpret_cast<const char*>(msg));
    }
    // JIT is only a speed-up; the interpreter gives the same matches where it is missing.
    if (jit) (void)pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE);
    p->regexes_.push_back(std::move(rx));
  }
  return p;
}

// The bump allocator PCRE2 draws from: its header sits at the start of the caller's
// buffer, so the general context's pointer to it stays valid however the MatchScratch
// value is copied. Nothing is ever freed: the scratch lives as long as its buffer, and
// PCRE2 keeps its frames in the match data between matches.
struct MatchScratch::Pool {
  std::byte* base;
  size_t capacity;
  size_t used;

  static void* alloc(PCRE2_SIZE bytes, void* data) {
    Pool* p = static_cast<Pool*>(data);
    const size_t start = (p->used + 15) & ~size_t{15};  // malloc's alignment
    if (start > p->capacity || bytes > p->capacity - start) return nullptr;
    p->used = start + bytes;
    return p->base + start;
  }
  static void release(void*, void*) {}
};

Result<MatchScratch> MatchScratch::create(std::span<std::byte> mem) {
  if (mem.size() < kBytes || reinterpret_cast<uintptr_t>(mem.data()) % 16 != 0)
    return errorf(Error::kInternal,
                  "pre-tokenizer: match scratch of %zu bytes at %p; %zu bytes aligned to 16 needed",
                  mem.size(), static_cast<void*>(mem.data()), kBytes);
  const size_t header = (sizeof(Pool) + 15) & ~size_t{15};
  Pool* pool = new (mem.data()) Pool{mem.data() + header, mem.size() - header, 0};
  pcre2_general_context* gc = pcre2_general_context_create(&Pool::alloc, &Pool::release, pool);
  MatchScratch m;
  m.pool_ = pool;
  // One ovector pair: the patterns capture nothing, only the whole match is read.
  m.match_data_ = gc ? pcre2_match_data_create(1, gc) : nullptr;
  // PCRE2 before 10.41 takes the frames beyond its first 20 KiB from the match context.
  m.match_context_ = gc ? pcre2_match_context_create(gc) : nullptr;
  if (!m.match_data_ || !m.match_context_)
    return errorf(Error::kInternal, "pre-tokenizer: %zu bytes are too few for PCRE2's match data",
                  mem.size());
  return m;
}

size_t MatchScratch::bytes_used() const { return pool_ ? pool_->used : 0; }

Result<std::span<const ByteRange>> PreTokenizer::split(std::string_view text,
                                                       std::span<ByteRange> a,
                                                       std::span<ByteRange> b,
                                                       MatchScratch& scratch) const {
  if (text.empty()) return std::span<const ByteRange>();
  if (a.size() < text.size() || b.size() < text.size())
    return errorf(Error::kInternal,
                  "pre-tokenizer: piece buffers of %zu and %zu ranges for %zu bytes of text",
                  a.size(), b.size(), text.size());
  auto* md = static_cast<pcre2_match_data*>(scratch.match_data_);
  auto* mc = static_cast<pcre2_match_context*>(scratch.match_context_);
  std::span<ByteRange> cur = a, next = b;
  size_t n_cur = 1;
  cur[0] = {0, static_cast<uint32_t>(text.size())};
  for (const auto& rx : regexes_) {
    size_t n_next = 0;
    for (size_t i = 0; i < n_cur; ++i) {
      const ByteRange piece = cur[i];
      // Each piece is matched as a subject of its own, so anchors and lookaheads see
      // the piece's ends, not the text's.
      const std::string_view sub = text.substr(piece.begin, piece.end - piece.begin);
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(sub.data());
      size_t pos = 0;   // where the next search starts
      size_t kept = 0;  // end of what has been emitted
      while (pos < sub.size()) {
        const int rc = pcre2_match(rx->code, subject, sub.size(), pos, 0, md, mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return match_error(rc);
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t m0 = ov[0], m1 = ov[1];
        if (m1 == m0) {  // an empty match: step one character and search again
          pos = m0 + utf8_char_len(sub, m0);
          continue;
        }
        if (m0 > kept) next[n_next++] = {piece.begin + uint32_t(kept), piece.begin + uint32_t(m0)};
        next[n_next++] = {piece.begin + uint32_t(m0), piece.begin + uint32_t(m1)};
        kept = pos = m1;
      }
      if (kept < sub.size()) next[n_next++] = {piece.begin + uint32_t(kept), piece.end};
    }
    std::swap(cur, next);
    n_cur = n_next;
  }
  return std::span<const ByteRange>(cur.first(n_cur));
}

ErrorInfo PreTokenizer::match_error(int rc) {
  PCRE2_UCHAR msg[128];
  pcre2_get_error_message(rc, msg, sizeof(msg));
  if (rc == PCRE2_ERROR_NOMEMORY)
    return errorf(Error::kResourceOutOfMemory,
                  "pre-tokenizer: a regex match needs more than the %zu bytes of "
                  "its match scratch (%s)",
                  MatchScratch::kBytes, reinterpret_cast<const char*>(msg));
  return errorf(Error::kInternal, "pre-tokenizer: regex match failed (%d: %s)", rc,
                reinterpret_cast<const char*>(msg));
}

Status PreTokenizer::split(std::string_view text, std::vector<ByteRange>& out) const {
  const size_t words = MatchScratch::kBytes / sizeof(std::max_align_t) + 1;
  const auto mem = std::make_unique_for_overwrite<std::max_align_t[]>(words);
  MatchScratch scratch =
      AIRT_TRY(MatchScratch::create(std::as_writable_bytes(std::span(mem.get(), words))));
  std::vector<ByteRange> a(text.size()), b(text.size());
  const std::span<const ByteRange> pieces = AIRT_TRY(split(text, a, b, scratch));
  out.insert(out.end(), pieces.begin(), pieces.end());
  return ok_status();
}

}  // namespace airt::text
