// Prompt tokenization and per-request sampler set-up allocate nothing, counted for the whole
// process. The shared allocation counter sees operator new and airt's own (statically
// linked) malloc calls; PCRE2 is a shared library whose malloc calls it cannot see. This
// executable therefore also replaces malloc, calloc and realloc for every shared library
// (an executable's definition interposes on libc's), forwarding to glibc's own entry points.
// Sanitizer builds keep their own allocator, so there the whole-process tests skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/core/arena.h"
#include "runtime/gguf/gguf.h"
#include "runtime/text/pretokenizer.h"
#include "runtime/text/sampler.h"
#include "runtime/text/tokenizer.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"

#if defined(__SANITIZE_ADDRESS__)
#define AIRT_WHOLE_PROCESS_COUNT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIRT_WHOLE_PROCESS_COUNT 0
#endif
#endif
#ifndef AIRT_WHOLE_PROCESS_COUNT
#define AIRT_WHOLE_PROCESS_COUNT 1
#endif

namespace {
std::atomic<int64_t> g_process_allocs{0};
}

#if AIRT_WHOLE_PROCESS_COUNT
extern "C" {
void* __libc_malloc(size_t n);
void* __libc_calloc(size_t n, size_t m);
void* __libc_realloc(void* p, size_t n);

void* malloc(size_t n) noexcept {
  g_process_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) noexcept {
  g_process_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) noexcept {
  g_process_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
}
#endif

namespace airt::text {
namespace {

// Every malloc/calloc/realloc of the process (shared libraries included) and every
// operator new, while it lives.
class ProcessAllocScope {
 public:
  ProcessAllocScope() : start_(g_process_allocs.load()), start_new_(test::alloc_count()) {}
  int64_t count() const {
    return (g_process_allocs.load() - start_) + (test::alloc_count() - start_new_);
  }

 private:
  int64_t start_, start_new_;
};

#define AIRT_REQUIRE_WHOLE_PROCESS_COUNT() \
  if (!AIRT_WHOLE_PROCESS_COUNT) GTEST_SKIP() << "sanitizer build: malloc is the sanitizer's"

// The hook really sees a shared library's allocations: compiling a regex mallocs in PCRE2.
TEST(TextAlloc, HookSeesSharedLibraryAllocations) {
  AIRT_REQUIRE_WHOLE_PROCESS_COUNT();
  const int64_t before = g_process_allocs.load();
  auto p = PreTokenizer::create("gpt-2");
  ASSERT_TRUE(p.ok());
  EXPECT_GT(g_process_allocs.load() - before, 0);
}

std::vector<std::string> split_tests(const std::string& s) {
  static const std::string kSep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t p = 0;
  for (size_t q; (q = s.find(kSep, p)) != std::string::npos; p = q + kSep.size())
    out.push_back(s.substr(p, q - p));
  out.push_back(s.substr(p));
  return out;
}

class Vocab : public ::testing::TestWithParam<const char*> {};

// Every reference string, plain, with BOS/EOS and with special parsing, through a workspace
// carved from an arena: no allocation anywhere in the process, and the vector API's ids.
TEST_P(Vocab, WorkspaceEncodeAllocatesNothingInTheProcess) {
  AIRT_REQUIRE_WHOLE_PROCESS_COUNT();
  const std::string path =
      test::model_path(std::string("vocab/ggml-vocab-") + GetParam() + ".gguf");
  AIRT_REQUIRE_FILE(path);
  auto f = gguf::File::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto tok = Tokenizer::from_gguf(*f.value());
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  const auto inputs = split_tests(test::read_text(path + ".inp"));
  size_t longest = 0;
  for (const auto& in : inputs) longest = std::max(longest, in.size());
  auto arena = Arena::reserve(Tokenizer::Workspace::bytes(longest));
  ASSERT_TRUE(arena.ok());
  auto ws = Tokenizer::Workspace::carve(*arena, longest);
  ASSERT_TRUE(ws.ok()) << ws.error().message;
  const size_t cap = Tokenizer::max_tokens(longest);
  const size_t n_runs = inputs.size() * 3;
  std::vector<int32_t> ids(n_runs * cap);
  std::vector<size_t> counts(n_runs, 0);
  int failures = 0;
  {
    ProcessAllocScope counter;
    for (int round = 0; round < 2; ++round) {  // the second round reuses what PCRE2 kept
      for (size_t i = 0; i < n_runs; ++i) {
        const Result<size_t> n = tok.value()->encode(inputs[i / 3], i % 3 == 1, i % 3 == 2,
                                                     std::span(ids).subspan(i * cap, cap), *ws);
        failures += !n.ok();
        counts[i] = n.ok() ? n.value() : 0;
      }
    }
    EXPECT_EQ(counter.count(), 0) << GetParam();
  }
  ASSERT_EQ(failures, 0);
  for (size_t i = 0; i < n_runs; ++i) {
    std::vector<int32_t> want;
    ASSERT_TRUE(tok.value()->encode(inputs[i / 3], i % 3 == 1, i % 3 == 2, want).ok());
    EXPECT_EQ(std::vector<int32_t>(ids.begin() + i * cap, ids.begin() + i * cap + counts[i]), want)
        << GetParam() << " case " << i / 3 << " mode " << i % 3;
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, Vocab,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "starcoder", "mpt",
                                           "refact", "deepseek-llm"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

// Without JIT (a libpcre2 built without it takes this path), PCRE2's backtracking frames
// come from the scratch too: splitting allocates nothing, for every pre-tokenizer.
TEST(TextAlloc, InterpreterSplitAllocatesNothingInTheProcess) {
  AIRT_REQUIRE_WHOLE_PROCESS_COUNT();
  const std::string path = test::model_path("vocab/ggml-vocab-gpt-2.gguf");
  AIRT_REQUIRE_FILE(path);
  const auto inputs = split_tests(test::read_text(path + ".inp"));
  size_t longest = 0;
  for (const auto& in : inputs) longest = std::max(longest, in.size());
  std::vector<std::max_align_t> mem(MatchScratch::kBytes / sizeof(std::max_align_t) + 1);
  auto scratch = MatchScratch::create(std::as_writable_bytes(std::span(mem)));
  ASSERT_TRUE(scratch.ok());
  std::vector<ByteRange> a(longest), b(longest);
  for (std::string_view name : PreTokenizer::known_names()) {
    auto p = PreTokenizer::create(name, false);
    ASSERT_TRUE(p.ok());
    int failures = 0;
    size_t pieces = 0;
    ProcessAllocScope counter;
    for (const auto& in : inputs) {
      auto r = p.value()->split(in, a, b, *scratch);
      failures += !r.ok();
      pieces += r.ok() ? r.value().size() : 0;
    }
    EXPECT_EQ(counter.count(), 0) << name;
    EXPECT_EQ(failures, 0) << name;
    EXPECT_GT(pieces, inputs.size()) << name;
  }
}

// A request's sampler set-up and its token loop, on a sampler carved from an arena.
TEST(TextAlloc, CarvedSamplerAllocatesNothingInTheProcess) {
  AIRT_REQUIRE_WHOLE_PROCESS_COUNT();
  const int32_t n_vocab = 32000;
  auto arena = Arena::reserve(Sampler::arena_bytes(n_vocab, 64));
  ASSERT_TRUE(arena.ok());
  auto s = Sampler::carve(*arena, n_vocab, 64);
  ASSERT_TRUE(s.ok());
  std::vector<float> logits(n_vocab);
  for (int32_t i = 0; i < n_vocab; ++i) logits[i] = static_cast<float>((i * 7919) % 1000) / 100.0f;
  SamplerParams p;
  p.repeat_penalty = 1.1f;
  int64_t sum = 0;
  ProcessAllocScope counter;
  for (uint64_t request = 0; request < 8; ++request) {
    p.seed = request;
    ASSERT_TRUE(s.value()->configure(p).ok());
    for (int step = 0; step < 8; ++step) {
      const int32_t id = s.value()->sample(logits);
      s.value()->accept(id);
      sum += id;
    }
  }
  EXPECT_EQ(counter.count(), 0);
  EXPECT_GT(sum, 0);
}

}  // namespace
}  // namespace airt::text
