#include "runtime/gguf/gguf.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "tests/support/test_support.h"

namespace airt::gguf {
namespace {
namespace fs = std::filesystem;
using hal::DType;

constexpr const char* kBadName = "bad.gguf";

// ---------------------------------------------------------------------------------------
// Helpers

// A heap block of exactly the first `n` bytes of `img`, so ASan flags any read past the end.
std::unique_ptr<uint8_t[]> exact_copy(const std::vector<uint8_t>& img, size_t n) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[n]);
  if (n > 0) std::memcpy(copy.get(), img.data(), n);
  return copy;
}

// Parses an exact copy of `img`. The File views the buffer, so the buffer is kept for the
// rest of the run (test images are small).
Result<std::unique_ptr<File>> parse_copy(const std::vector<uint8_t>& img, const char* name = kBadName) {
  static std::vector<std::unique_ptr<uint8_t[]>> keep;
  keep.push_back(exact_copy(img, img.size()));
  return File::parse(keep.back().get(), img.size(), name);
}

// Parses an exact copy of the first `n` bytes, then drops the buffer: only for checking
// that parsing fails or succeeds, never for using the File.
bool parse_prefix_ok(const std::vector<uint8_t>& img, size_t n, ErrorInfo* error) {
  std::unique_ptr<uint8_t[]> copy = exact_copy(img, n);
  auto r = File::parse(copy.get(), n, kBadName);
  if (!r.ok()) *error = r.error();
  return r.ok();
}

std::vector<uint8_t> gguf_string(std::string_view s) {
  std::vector<uint8_t> out(8);
  uint64_t n = s.size();
  std::memcpy(out.data(), &n, 8);
  for (char c : s) out.push_back(static_cast<uint8_t>(c));
  return out;
}

// Offset of the one occurrence of `s` (as a GGUF string) in `img`; fails the test otherwise.
size_t locate(const std::vector<uint8_t>& img, std::string_view s) {
  std::vector<uint8_t> pat = gguf_string(s);
  auto it = std::search(img.begin(), img.end(), pat.begin(), pat.end());
  EXPECT_NE(it, img.end()) << s;
  if (it == img.end()) return 0;
  EXPECT_EQ(std::search(it + 1, img.end(), pat.begin(), pat.end()), img.end()) << s << " occurs twice";
  return static_cast<size_t>(it - img.begin()) + pat.size();  // just past the string
}

template <class T>
void poke(std::vector<uint8_t>& img, size_t at, T v) {
  ASSERT_LE(at + sizeof v, img.size());
  std::memcpy(img.data() + at, &v, sizeof v);
}

template <class T>
T peek(const std::vector<uint8_t>& img, size_t at) {
  T v{};
  std::memcpy(&v, img.data() + at, sizeof v);
  return v;
}

// Field offsets of a tensor info in an image (n_dims follows the name).
struct InfoAt {
  size_t n_dims, dims, type, offset;
};
InfoAt info_at(const std::vector<uint8_t>& img, std::string_view name) {
  InfoAt a;
  a.n_dims = locate(img, name);
  a.dims = a.n_dims + 4;
  a.type = a.dims + 8 * peek<uint32_t>(img, a.n_dims);
  a.offset = a.type + 4;
  return a;
}

// Where a key's type tag and value are.
size_t type_at(const std::vector<uint8_t>& img, std::string_view key) { return locate(img, key); }

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// A small valid file exercising every section: scalars, a string, a string array, an
// int array, explicit alignment and three tensors of different types.
std::vector<uint8_t> small_image() {
  Writer w;
  w.set_alignment(32);
  w.set_string("general.architecture", "llama");
  w.set_u32("test.u32", 7);
  w.set_bool("test.flag", true);
  w.set_array_string("test.tokens", {"<unk>", "a", "bc"});
  w.set_array_i32("test.ints", {1, -2, 3});
  std::vector<int64_t> ne_f32 = {8}, ne_q4 = {32, 2}, ne_q8 = {32, 1};
  auto d1 = pattern(32, 1), d2 = pattern(36, 2), d3 = pattern(34, 3);
  EXPECT_TRUE(w.add_tensor("t.f32", DType::kF32, ne_f32, d1.data()).ok());
  EXPECT_TRUE(w.add_tensor("t.q4_0", DType::kQ4_0, ne_q4, d2.data()).ok());
  EXPECT_TRUE(w.add_tensor("t.q8_0", DType::kQ8_0, ne_q8, d3.data()).ok());
  return w.serialize();
}

#define EXPECT_GGUF_ERROR(result, code_, text)                                   \
  do {                                                                           \
    auto&& r_ = (result);                                                        \
    ASSERT_FALSE(r_.ok()) << "expected " << error_name(code_);                   \
    EXPECT_EQ(r_.error().code, code_) << r_.error().message;                     \
    EXPECT_NE(r_.error().message.find(kBadName), std::string::npos) << r_.error().message; \
    EXPECT_NE(r_.error().message.find(text), std::string::npos) << r_.error().message;     \
  } while (0)

void expect_same_value(const Value& a, const Value& b, std::string_view key) {
  SCOPED_TRACE(std::string(key));
  ASSERT_EQ(a.type(), b.type());
  if (a.is_string()) {
    EXPECT_EQ(a.as_string(), b.as_string());
  } else if (a.is_array()) {
    ASSERT_EQ(a.array_type(), b.array_type());
    ASSERT_EQ(a.array_size(), b.array_size());
    if (a.array_type() == ValueType::kString) {
      for (uint64_t i = 0; i < a.array_size(); ++i) ASSERT_EQ(a.array_string(i), b.array_string(i)) << i;
    } else {
      size_t n = a.array_size() * value_type_size(a.array_type());
      EXPECT_EQ(std::memcmp(a.array_data(), b.array_data(), n), 0);
    }
  } else if (a.is_float()) {
    EXPECT_EQ(a.as_f64(), b.as_f64());
  } else {
    EXPECT_EQ(a.as_i64(), b.as_i64());
    EXPECT_EQ(a.as_u64(), b.as_u64());
  }
}

void expect_same_file(const File& a, const File& b) {
  ASSERT_EQ(a.metadata().size(), b.metadata().size());
  for (size_t i = 0; i < a.metadata().size(); ++i) {
    EXPECT_EQ(a.metadata()[i].key, b.metadata()[i].key);
    expect_same_value(a.metadata()[i].value, b.metadata()[i].value, a.metadata()[i].key);
  }
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const TensorInfo& x = a.tensors()[i];
    const TensorInfo& y = b.tensors()[i];
    SCOPED_TRACE(std::string(x.name));
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.n_dims, y.n_dims);
    EXPECT_EQ(x.type, y.type);
    for (int d = 0; d < 4; ++d) EXPECT_EQ(x.ne[d], y.ne[d]);
    ASSERT_EQ(x.bytes, y.bytes);
    EXPECT_EQ(std::memcmp(x.data, y.data, x.bytes), 0);
  }
}

std::vector<std::string> shared_gguf_files() {
  std::vector<std::string> out;
  std::string dir = test::models_dir();
  if (dir.empty()) return out;
  for (const std::string& d : {dir, dir + "/vocab"}) {
    if (!fs::is_directory(d)) continue;
    for (const auto& e : fs::directory_iterator(d)) {
      if (e.path().extension() == ".gguf") out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------
// Real files

TEST(GgufSharedModels, OpensEveryFileAndEveryValueIsReachable) {
  std::vector<std::string> files = shared_gguf_files();
  if (files.empty()) GTEST_SKIP() << "shared models not found";
  EXPECT_GE(files.size(), 13u);
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    auto f = File::open(path);
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_TRUE((*f)->version() == 2 || (*f)->version() == 3);
    EXPECT_EQ((*f)->file_bytes(), fs::file_size(path));
    EXPECT_TRUE((*f)->get_string("general.architecture").ok());
    EXPECT_TRUE((*f)->get_array("tokenizer.ggml.tokens", ValueType::kString).ok());
    for (const KeyValue& kv : (*f)->metadata()) {
      EXPECT_EQ((*f)->find(kv.key), &kv.value);
      if (kv.value.is_array() && kv.value.array_type() == ValueType::kString && kv.value.array_size() > 0) {
        (void)kv.value.array_string(kv.value.array_size() - 1);
      }
    }
    for (const TensorInfo& t : (*f)->tensors()) {
      EXPECT_EQ((*f)->tensor(t.name), &t);
      EXPECT_EQ(t.offset % (*f)->alignment(), 0u) << t.name;
      EXPECT_LE((*f)->data_offset() + t.offset + t.bytes, (*f)->file_bytes()) << t.name;
      EXPECT_EQ(t.bytes, hal::dtype_row_bytes(t.type, t.ne[0]) * static_cast<size_t>(t.ne[1] * t.ne[2] * t.ne[3]));
    }
  }
}

TEST(GgufSharedModels, Stories260KFacts) {
  std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = File::open(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const File& f = **r;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f.get_u64("llama.embedding_length").value(), 64u);
  EXPECT_EQ(f.get_u64("llama.block_count").value(), 5u);
  EXPECT_EQ(f.get_u64("llama.attention.head_count_kv").value(), 4u);
  EXPECT_NEAR(f.get_f64("llama.attention.layer_norm_rms_epsilon").value(), 1e-5, 1e-12);
  const Value* tokens = f.get_array("tokenizer.ggml.tokens", ValueType::kString).value();
  ASSERT_EQ(tokens->array_size(), 512u);
  EXPECT_EQ(tokens->array_string(0), "<unk>");
  EXPECT_EQ(tokens->array_string(1), "<s>");
  EXPECT_EQ(tokens->array_string(2), "</s>");
  EXPECT_EQ(f.tensors().size(), 48u);
  const TensorInfo* emb = f.tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::kF32);
  EXPECT_EQ(emb->n_dims, 2u);
  EXPECT_EQ(emb->ne[0], 64);
  EXPECT_EQ(emb->ne[1], 512);
  EXPECT_EQ(emb->bytes, 64u * 512u * 4u);
  // The mapped bytes are the file's bytes at data_offset + offset.
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(f.data_offset() + emb->offset));
  std::vector<char> bytes(emb->bytes);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(in.good());
  EXPECT_EQ(std::memcmp(bytes.data(), emb->data, bytes.size()), 0);
  float first;
  std::memcpy(&first, emb->data, 4);
  EXPECT_TRUE(std::isfinite(first));
}

TEST(GgufSharedModels, SynthLlamaMidQ4_0Facts) {
  std::string path = test::model_path("synth-llama-mid-q4_0.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = File::open(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const File& f = **r;
  bool q4_0 = false, q6_k = false;
  for (const TensorInfo& t : f.tensors()) {
    q4_0 |= t.type == DType::kQ4_0;
    q6_k |= t.type == DType::kQ6_K;
  }
  EXPECT_TRUE(q4_0);
  EXPECT_TRUE(q6_k);
  const TensorInfo* emb = f.tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::kQ6_K);
  EXPECT_EQ(emb->ne[0], 512);
  EXPECT_EQ(emb->ne[1], 32000);
  EXPECT_EQ(f.tensor("blk.0.attn_q.weight")->type, DType::kQ4_0);
  EXPECT_EQ(f.get_u64("llama.vocab_size").value(), 32000u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_TRUE(f.find("tokenizer.ggml.add_bos_token")->as_bool());
  const Value* tokens = f.get_array("tokenizer.ggml.tokens", ValueType::kString).value();
  ASSERT_EQ(tokens->array_size(), 32000u);
  EXPECT_EQ(tokens->array_string(1), "<s>");
  EXPECT_EQ(tokens->array_string(259), "\xe2\x96\x81\xe2\x96\x81");  // "▁▁", the first merge in Llama's vocab
  const Value* types = f.get_array("tokenizer.ggml.token_type", ValueType::kI32).value();
  EXPECT_EQ(types->array_i64(1), 3);  // control token
}

TEST(GgufSharedModels, Qwen2F16Facts) {
  std::string path = test::model_path("synth-qwen2-small-f16.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = File::open(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const File& f = **r;
  EXPECT_EQ(f.get_string("general.architecture").value(), "qwen2");
  EXPECT_EQ(f.get_array("tokenizer.ggml.tokens", ValueType::kString).value()->array_size(), 50257u);
  const Value* merges = f.get_array("tokenizer.ggml.merges", ValueType::kString).value();
  EXPECT_EQ(merges->array_size(), 50000u);
  EXPECT_EQ(merges->array_string(0), "\xc4\xa0 t");  // "Ġ t"
  EXPECT_NEAR(f.get_f64("qwen2.rope.freq_base").value(), 1e6, 1e-3);
  EXPECT_EQ(f.tensor("token_embd.weight")->type, DType::kF16);
  EXPECT_EQ(f.tensor("blk.0.attn_q.bias")->type, DType::kF32);
}

TEST(GgufSharedModels, CopyThroughWriterReproducesTheFile) {
  std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto r = File::open(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  Writer w;
  for (const KeyValue& kv : (*r)->metadata()) w.set_value(std::string(kv.key), kv.value);
  for (const TensorInfo& t : (*r)->tensors()) {
    ASSERT_TRUE(w.add_tensor(std::string(t.name), t.type, std::span<const int64_t>(t.ne, t.n_dims), t.data).ok());
  }
  std::vector<uint8_t> img = w.serialize();
  auto copy = parse_copy(img, "copy.gguf");
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  expect_same_file(**r, **copy);
  // Same layout rules as the file's writer, so the copy is byte for byte the original.
  std::string orig = test::read_text(path);
  ASSERT_EQ(img.size(), orig.size());
  EXPECT_EQ(std::memcmp(img.data(), orig.data(), img.size()), 0);
}

// ---------------------------------------------------------------------------------------
// Typed getters

TEST(GgufGetters, ErrorsNameFileKeyAndTypes) {
  Writer w;
  w.set_string("k.str", "x");
  w.set_i32("k.neg", -5);
  w.set_i8("k.small", 5);
  w.set_u64("k.huge", std::numeric_limits<uint64_t>::max());
  w.set_f32("k.f32", 0.5f);
  w.set_array_i32("k.ints", {1, 2});
  auto r = parse_copy(w.serialize());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const File& f = **r;

  EXPECT_EQ(f.get_u64("k.small").value(), 5u);
  EXPECT_EQ(f.get_i64("k.neg").value(), -5);
  EXPECT_EQ(f.get_u64("k.huge").value(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get_f64("k.small").value(), 5.0);
  EXPECT_EQ(f.get_f64("k.f32").value(), 0.5);
  EXPECT_EQ(f.get_string("k.str").value(), "x");
  EXPECT_EQ(f.get_u64_or("k.absent", 9).value(), 9u);
  EXPECT_EQ(f.get_f64_or("k.absent", 1.5).value(), 1.5);
  EXPECT_EQ(f.get_u64_or("k.small", 9).value(), 5u);

  EXPECT_GGUF_ERROR(f.get_u64("k.str"), Error::kFormatInvalid, "'k.str' is string, expected a non-negative integer");
  EXPECT_GGUF_ERROR(f.get_u64("k.neg"), Error::kFormatInvalid, "'k.neg' is -5");
  EXPECT_GGUF_ERROR(f.get_i64("k.huge"), Error::kFormatInvalid, "'k.huge'");
  EXPECT_GGUF_ERROR(f.get_f64("k.str"), Error::kFormatInvalid, "expected a number");
  EXPECT_GGUF_ERROR(f.get_string("k.f32"), Error::kFormatInvalid, "'k.f32' is f32, expected a string");
  EXPECT_GGUF_ERROR(f.get_array("k.ints", ValueType::kF32), Error::kFormatInvalid,
                    "is array of i32, expected an array of f32");
  EXPECT_GGUF_ERROR(f.get_array("k.str", ValueType::kString), Error::kFormatInvalid, "is string");
  EXPECT_GGUF_ERROR(f.get_u64("k.absent"), Error::kFormatInvalid, "missing metadata key 'k.absent'");
  EXPECT_GGUF_ERROR(f.get_u64_or("k.str", 1), Error::kFormatInvalid, "'k.str' is string");
  EXPECT_GGUF_ERROR(f.get_f64_or("k.ints", 1), Error::kFormatInvalid, "'k.ints' is array of i32");
}

// Every getter checks the type, and every error names the key with the expected and the
// actual type: a model's reader never sees a mistyped value as 0.
TEST(GgufGetters, EveryGetterNamesTheKeyAndBothTypes) {
  Writer w;
  w.set_bool("k.flag", true);
  w.set_string("k.str", "x");
  w.set_i16("k.i16", -3);
  w.set_f64("k.f64", 2.5);
  w.set_array_i32("k.types", {1, 6, 3});
  w.set_array_u8("k.types_u8", {1, 2});
  w.set_array_f32("k.scores", {0.5f});
  w.set_array_string("k.tokens", {"a", "b"});
  const bool bools[] = {true, false};
  w.set_array("k.bools", ValueType::kBool, bools, 2);
  auto r = parse_copy(w.serialize());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const File& f = **r;

  EXPECT_TRUE(f.get_bool("k.flag").value());
  EXPECT_FALSE(f.get_bool_or("k.absent", false).value());
  EXPECT_TRUE(f.get_bool_or("k.flag", false).value());
  EXPECT_EQ(f.get_i64_or("k.i16", 7).value(), -3);
  EXPECT_EQ(f.get_i64_or("k.absent", 7).value(), 7);
  EXPECT_EQ(f.get_string_or("k.str", "d").value(), "x");
  EXPECT_EQ(f.get_string_or("k.absent", "d").value(), "d");
  EXPECT_EQ(f.get_f64("k.f64").value(), 2.5);
  const Value* types = f.get_int_array("k.types").value();
  ASSERT_EQ(types->array_size(), 3u);
  EXPECT_EQ(types->array_i64(1), 6);
  EXPECT_EQ(f.get_int_array("k.types_u8").value()->array_i64(1), 2);
  EXPECT_EQ(f.find_int_array("k.absent").value(), nullptr);
  EXPECT_EQ(f.find_int_array("k.types").value(), types);
  EXPECT_EQ(f.find_array("k.absent", ValueType::kF32).value(), nullptr);
  EXPECT_EQ(f.find_array("k.scores", ValueType::kF32).value()->array_size(), 1u);

  // A bool is a flag, not a count, an id or a number.
  EXPECT_GGUF_ERROR(f.get_u64("k.flag"), Error::kFormatInvalid,
                    "metadata key 'k.flag' is bool, expected a non-negative integer");
  EXPECT_GGUF_ERROR(f.get_i64("k.flag"), Error::kFormatInvalid, "'k.flag' is bool, expected an integer");
  EXPECT_GGUF_ERROR(f.get_f64_or("k.flag", 1), Error::kFormatInvalid, "'k.flag' is bool, expected a number");
  EXPECT_GGUF_ERROR(f.get_bool("k.i16"), Error::kFormatInvalid, "'k.i16' is i16, expected a bool");
  EXPECT_GGUF_ERROR(f.get_bool_or("k.str", true), Error::kFormatInvalid, "'k.str' is string, expected a bool");
  EXPECT_GGUF_ERROR(f.get_bool("k.absent"), Error::kFormatInvalid, "missing metadata key 'k.absent' (a bool)");
  EXPECT_GGUF_ERROR(f.get_i64_or("k.f64", 1), Error::kFormatInvalid, "'k.f64' is f64, expected an integer");
  EXPECT_GGUF_ERROR(f.get_string_or("k.types", "d"), Error::kFormatInvalid,
                    "'k.types' is array of i32, expected a string");
  // Token types: an array of integers, of whatever width; not floats, strings or bools.
  EXPECT_GGUF_ERROR(f.get_int_array("k.scores"), Error::kFormatInvalid,
                    "'k.scores' is array of f32, expected an array of integers");
  EXPECT_GGUF_ERROR(f.find_int_array("k.tokens"), Error::kFormatInvalid,
                    "'k.tokens' is array of string, expected an array of integers");
  EXPECT_GGUF_ERROR(f.get_int_array("k.bools"), Error::kFormatInvalid, "'k.bools' is array of bool");
  EXPECT_GGUF_ERROR(f.find_int_array("k.i16"), Error::kFormatInvalid, "'k.i16' is i16, expected an array of integers");
  EXPECT_GGUF_ERROR(f.find_array("k.types", ValueType::kF32), Error::kFormatInvalid,
                    "'k.types' is array of i32, expected an array of f32");
}

// ---------------------------------------------------------------------------------------
// Writer

TEST(GgufWriter, RoundTripsEveryValueType) {
  Writer w;
  w.set_u8("v.u8", 250);
  w.set_i8("v.i8", -100);
  w.set_u16("v.u16", 65000);
  w.set_i16("v.i16", -30000);
  w.set_u32("v.u32", 4000000000u);
  w.set_i32("v.i32", -2000000000);
  w.set_u64("v.u64", 18000000000000000000ull);
  w.set_i64("v.i64", -9000000000000000000ll);
  w.set_f32("v.f32", 3.25f);
  w.set_f64("v.f64", -1e300);
  w.set_bool("v.bool", true);
  w.set_string("v.string", std::string("with\0nul \xff", 10));
  w.set_string("v.empty", "");
  w.set_array_string("a.string", {"", "x", std::string(300, 'y')});
  w.set_array_string("a.empty", {});
  w.set_array_i32("a.i32", {-1, 0, 1});
  w.set_array_f32("a.f32", {0.5f, -2.0f});
  w.set_array_u8("a.u8", {0, 255});
  const uint64_t u64s[] = {1, std::numeric_limits<uint64_t>::max()};
  w.set_array("a.u64", ValueType::kU64, u64s, 2);
  const double f64s[] = {1.5, -2.5, 1e-300};
  w.set_array("a.f64", ValueType::kF64, f64s, 3);
  const int16_t i16s[] = {-3, 3};
  w.set_array("a.i16", ValueType::kI16, i16s, 2);
  const uint8_t bools[] = {1, 0, 1};
  w.set_array("a.bool", ValueType::kBool, bools, 3);
  w.set_u32("v.u32", 4000000001u);  // replaces, keeps position
  ASSERT_TRUE(w.status().ok());
  auto r = parse_copy(w.serialize());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const File& f = **r;
  EXPECT_EQ(f.metadata().size(), 22u);
  EXPECT_EQ(f.metadata()[4].key, "v.u32");
  EXPECT_EQ(f.find("v.u8")->as_u64(), 250u);
  EXPECT_EQ(f.find("v.i8")->as_i64(), -100);
  EXPECT_EQ(f.find("v.u16")->as_u64(), 65000u);
  EXPECT_EQ(f.find("v.i16")->as_i64(), -30000);
  EXPECT_EQ(f.find("v.u32")->as_u64(), 4000000001u);
  EXPECT_EQ(f.find("v.i32")->as_i64(), -2000000000);
  EXPECT_EQ(f.find("v.u64")->as_u64(), 18000000000000000000ull);
  EXPECT_EQ(f.find("v.i64")->as_i64(), -9000000000000000000ll);
  EXPECT_EQ(f.find("v.f32")->as_f64(), 3.25);
  EXPECT_EQ(f.find("v.f64")->as_f64(), -1e300);
  EXPECT_EQ(f.find("v.bool")->type(), ValueType::kBool);
  EXPECT_TRUE(f.find("v.bool")->as_bool());
  EXPECT_EQ(f.find("v.string")->as_string(), std::string_view("with\0nul \xff", 10));
  EXPECT_EQ(f.find("v.empty")->as_string(), "");
  const Value* s = f.get_array("a.string", ValueType::kString).value();
  ASSERT_EQ(s->array_size(), 3u);
  EXPECT_EQ(s->array_string(0), "");
  EXPECT_EQ(s->array_string(1), "x");
  EXPECT_EQ(s->array_string(2), std::string(300, 'y'));
  EXPECT_EQ(f.find("a.empty")->array_size(), 0u);
  EXPECT_EQ(f.find("a.i32")->array_i64(0), -1);
  EXPECT_EQ(f.find("a.i32")->array_i64(2), 1);
  EXPECT_EQ(f.find("a.f32")->array_f64(1), -2.0);
  EXPECT_EQ(f.find("a.u8")->array_i64(1), 255);
  EXPECT_EQ(f.find("a.u64")->array_f64(1), 18446744073709551615.0);
  EXPECT_EQ(f.find("a.f64")->array_f64(2), 1e-300);
  EXPECT_EQ(f.find("a.i16")->array_i64(0), -3);
  EXPECT_EQ(f.find("a.bool")->array_i64(2), 1);
  EXPECT_EQ(f.find("a.bool")->array_type(), ValueType::kBool);

  // set_value copies every kind exactly.
  Writer copy;
  for (const KeyValue& kv : f.metadata()) copy.set_value(std::string(kv.key), kv.value);
  std::vector<uint8_t> again = copy.serialize();
  EXPECT_EQ(again, w.serialize());
}

TEST(GgufWriter, RoundTripsTensorsOfEveryTypeAndShape) {
  struct Case {
    const char* name;
    DType type;
    std::vector<int64_t> ne;
  };
  const std::vector<Case> cases = {
      {"f32.1d", DType::kF32, {3}},           {"f16.2d", DType::kF16, {5, 3}},
      {"bf16.3d", DType::kBF16, {2, 2, 2}},   {"q4_0", DType::kQ4_0, {64, 3}},
      {"q4_1", DType::kQ4_1, {32, 1}},        {"q5_0", DType::kQ5_0, {32, 2}},
      {"q5_1", DType::kQ5_1, {96}},           {"q8_0.4d", DType::kQ8_0, {32, 1, 2, 2}},
      {"q8_1", DType::kQ8_1, {32}},           {"q2_k", DType::kQ2_K, {256}},
      {"q3_k", DType::kQ3_K, {256, 2}},       {"q4_k", DType::kQ4_K, {512, 1}},
      {"q5_k", DType::kQ5_K, {256}},          {"q6_k", DType::kQ6_K, {256, 3}},
      {"q8_k", DType::kQ8_K, {256}},
  };
  for (uint32_t alignment : {32u, 64u, 1u}) {
    SCOPED_TRACE(alignment);
    Writer w;
    w.set_alignment(alignment);
    std::vector<std::vector<uint8_t>> data;
    for (const Case& c : cases) {
      size_t rows = 1;
      for (size_t d = 1; d < c.ne.size(); ++d) rows *= static_cast<size_t>(c.ne[d]);
      data.push_back(pattern(hal::dtype_row_bytes(c.type, c.ne[0]) * rows, static_cast<uint32_t>(data.size())));
      ASSERT_TRUE(w.add_tensor(c.name, c.type, c.ne, data.back().data()).ok()) << c.name;
    }
    std::vector<uint8_t> img = w.serialize();
    auto r = parse_copy(img);
    ASSERT_TRUE(r.ok()) << r.error().message;
    const File& f = **r;
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      const TensorInfo& t = f.tensors()[i];
      SCOPED_TRACE(cases[i].name);
      EXPECT_EQ(t.name, cases[i].name);
      EXPECT_EQ(t.type, cases[i].type);
      EXPECT_EQ(t.n_dims, cases[i].ne.size());
      for (size_t d = 0; d < 4; ++d) EXPECT_EQ(t.ne[d], d < cases[i].ne.size() ? cases[i].ne[d] : 1);
      EXPECT_EQ(t.offset % alignment, 0u);
      ASSERT_EQ(t.bytes, data[i].size());
      EXPECT_EQ(std::memcmp(t.data, data[i].data(), t.bytes), 0);
    }
  }
}

TEST(GgufWriter, AlignmentKeyFromAnySetterPlacesTensors) {
  Writer w;
  w.set_u64("general.alignment", 256);
  std::vector<int64_t> ne = {3};
  float data[3] = {1, 2, 3};
  ASSERT_TRUE(w.add_tensor("a", DType::kF32, ne, data).ok());
  ASSERT_TRUE(w.add_tensor("b", DType::kF32, ne, data).ok());
  auto r = parse_copy(w.serialize());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->alignment(), 256u);
  EXPECT_EQ((*r)->find("general.alignment")->type(), ValueType::kU64);
  EXPECT_EQ((*r)->tensor("b")->offset, 256u);
  EXPECT_EQ((*r)->data_offset() % 256, 0u);
}

TEST(GgufWriter, WriteIsAtomicAndRereadable) {
  std::string dir = test::temp_dir();
  std::string path = dir + "/model.gguf";
  std::vector<uint8_t> img = small_image();
  Writer w;
  w.set_string("general.architecture", "old");
  ASSERT_TRUE(w.write(path).ok());
  // Overwrite through a second writer: the reader sees the complete new file.
  Writer w2;
  auto src = parse_copy(img);
  ASSERT_TRUE(src.ok()) << src.error().message;
  for (const KeyValue& kv : (*src)->metadata()) w2.set_value(std::string(kv.key), kv.value);
  for (const TensorInfo& t : (*src)->tensors()) {
    ASSERT_TRUE(w2.add_tensor(std::string(t.name), t.type, std::span<const int64_t>(t.ne, t.n_dims), t.data).ok());
  }
  Status st = w2.write(path);
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  expect_same_file(**src, **f);
  EXPECT_EQ(test::read_text(path), std::string(img.begin(), img.end()));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"model.gguf"});  // no temp file left behind
}

TEST(GgufWriter, FailedWriteNamesThePathAndLeavesNothing) {
  std::string dir = test::temp_dir();
  Writer w;
  w.set_string("general.architecture", "llama");
  std::string missing = dir + "/no/such/dir/model.gguf";
  Status st = w.write(missing);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Error::kIoWrite);
  EXPECT_NE(st.error().message.find(missing), std::string::npos) << st.error().message;
  // The target is a directory: the temp file is written, rename fails, the temp goes.
  std::string target = dir + "/target";
  fs::create_directory(target);
  st = w.write(target);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(target), std::string::npos) << st.error().message;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"target"});
}

// Tensors declared without data and streamed in pieces of any size give the same file
// as the in-memory writer; a stream dropped before commit() leaves nothing behind.
TEST(GgufStreamWriter, StreamedPiecesGiveTheSameFileAsTheWriter) {
  std::string dir = test::temp_dir() + "/stream";
  fs::create_directory(dir);
  const std::vector<std::vector<int64_t>> shapes = {{3}, {64, 3}, {256, 2}};
  const DType types[] = {DType::kF32, DType::kQ4_0, DType::kQ6_K};
  Writer whole, declared;
  whole.set_alignment(64);
  declared.set_alignment(64);
  std::vector<std::vector<uint8_t>> data;
  for (size_t i = 0; i < shapes.size(); ++i) {
    size_t rows = shapes[i].size() > 1 ? size_t(shapes[i][1]) : 1;
    data.push_back(pattern(hal::dtype_row_bytes(types[i], shapes[i][0]) * rows, uint32_t(i)));
    std::string name(1, 't');  // (not "t" + ...: GCC 12 warns falsely on that)
    name += std::to_string(i);
    ASSERT_TRUE(whole.add_tensor(name, types[i], shapes[i], data.back().data()).ok());
    ASSERT_TRUE(declared.add_tensor_info(name, types[i], shapes[i]).ok());
  }
  std::string path = dir + "/s.gguf";
  EXPECT_EQ(declared.write(path).error().code, Error::kRequestInvalid) << "write() has no data to write";
  auto s = StreamWriter::begin(declared, path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  for (const auto& d : data) {
    for (size_t at = 0; at < d.size(); at += 7) ASSERT_TRUE((*s)->append(d.data() + at, std::min<size_t>(7, d.size() - at)).ok());
  }
  uint8_t extra = 0;
  EXPECT_EQ((*s)->append(&extra, 1).error().code, Error::kRequestInvalid);
  Status st = (*s)->commit();
  ASSERT_TRUE(st.ok()) << st.error().message;
  std::vector<uint8_t> img = whole.serialize();
  EXPECT_EQ(test::read_text(path), std::string(img.begin(), img.end()));

  // Short of data: commit() names the tensor; dropping the stream removes its temp file.
  std::string p2 = dir + "/short.gguf";
  {
    auto s2 = StreamWriter::begin(declared, p2);
    ASSERT_TRUE(s2.ok());
    ASSERT_TRUE((*s2)->append(data[0].data(), data[0].size()).ok());
    Status c = (*s2)->commit();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("tensor 't1' has 0 of its"), std::string::npos) << c.error().message;
  }
  {
    auto s3 = StreamWriter::begin(declared, p2);
    ASSERT_TRUE(s3.ok());
    EXPECT_TRUE(fs::exists((*s3)->temp_path()));
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"s.gguf"});
}

TEST(GgufWriter, RefusesBadInput) {
  Writer w;
  std::vector<uint8_t> buf(4096);
  auto add = [&](const char* name, DType t, std::vector<int64_t> ne) {
    return w.add_tensor(name, t, ne, buf.data());
  };
  EXPECT_TRUE(add("ok", DType::kF32, {4}).ok());
  EXPECT_EQ(add("ok", DType::kF32, {4}).error().code, Error::kRequestInvalid);  // duplicate
  EXPECT_EQ(add("", DType::kF32, {4}).error().code, Error::kRequestInvalid);
  EXPECT_EQ(add("t", static_cast<DType>(4), {4}).error().code, Error::kRequestInvalid);
  EXPECT_EQ(add("t", DType::kF32, {}).error().code, Error::kRequestInvalid);
  EXPECT_EQ(add("t", DType::kF32, {1, 1, 1, 1, 1}).error().code, Error::kRequestInvalid);
  EXPECT_EQ(add("t", DType::kF32, {4, 0}).error().code, Error::kRequestInvalid);
  EXPECT_EQ(add("t", DType::kQ4_0, {16}).error().code, Error::kRequestInvalid);
  EXPECT_EQ(add("t", DType::kF32, {1 << 30, 1 << 30, 1 << 30}).error().code, Error::kRequestInvalid);
  EXPECT_TRUE(w.status().ok());
  w.set_alignment(3);
  ASSERT_FALSE(w.status().ok());
  EXPECT_NE(w.status().error().message.find("alignment 3"), std::string::npos);
  Status st = w.write(test::temp_dir() + "/x.gguf");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Error::kRequestInvalid);
  EXPECT_TRUE(parse_copy(w.serialize()).ok());  // the bad alignment was not applied

  Writer w4;
  w4.set_string("general.alignment", "64");
  EXPECT_FALSE(w4.status().ok());

  Writer w2;
  w2.set_array("k", ValueType::kString, nullptr, 0);
  EXPECT_FALSE(w2.status().ok());
  Writer w3;
  w3.set_u32("", 1);
  EXPECT_FALSE(w3.status().ok());
}

// ---------------------------------------------------------------------------------------
// Malformed files, each built from small_image() with one corruption

TEST(GgufBadFiles, TheUncorruptedImageParses) {
  auto r = parse_copy(small_image());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->tensors().size(), 3u);
  EXPECT_EQ((*r)->find("test.tokens")->array_string(2), "bc");
}

TEST(GgufBadFiles, WrongMagicAndVersions) {
  std::vector<uint8_t> img = small_image();
  auto bad = img;
  bad[0] = 'P';
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatBadMagic, "not a GGUF file");
  bad = img;
  poke<uint32_t>(bad, 4, 1);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatBadVersion, "version 1");
  poke<uint32_t>(bad, 4, 99);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatBadVersion, "version 99");
  poke<uint32_t>(bad, 4, 0x03000000);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatUnsupported, "big-endian");
  poke<uint32_t>(bad, 4, 2);  // v2 has the same layout
  EXPECT_TRUE(parse_copy(bad).ok());
}

TEST(GgufBadFiles, EveryTruncationFailsCleanly) {
  std::vector<uint8_t> img = small_image();
  auto full = parse_copy(img);
  ASSERT_TRUE(full.ok());
  size_t needed = 0;
  for (const TensorInfo& t : (*full)->tensors()) needed = std::max<size_t>(needed, (*full)->data_offset() + t.offset + t.bytes);
  ASSERT_LT(needed, img.size());  // the last tensor is padded: some prefixes are complete files
  for (size_t n = 0; n <= img.size(); ++n) {
    ErrorInfo e;
    bool ok = parse_prefix_ok(img, n, &e);
    if (n < needed) {
      ASSERT_FALSE(ok) << "prefix of " << n << " bytes parsed";
      EXPECT_EQ(e.code, Error::kFormatTruncated) << n << ": " << e.message;
      EXPECT_EQ(e.message.rfind(std::string(kBadName) + ": ", 0), 0u) << e.message;
    } else {
      EXPECT_TRUE(ok) << n << ": " << e.message;
    }
  }
}

TEST(GgufBadFiles, AbsurdCounts) {
  std::vector<uint8_t> img = small_image();
  for (uint64_t n : {uint64_t{1} << 63, ~uint64_t{0}, uint64_t{1000}}) {
    auto bad = img;
    poke<uint64_t>(bad, 8, n);
    EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "tensors claimed");
    bad = img;
    poke<uint64_t>(bad, 16, n);
    EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "metadata keys claimed");
  }
}

TEST(GgufBadFiles, AbsurdStringAndArrayLengths) {
  std::vector<uint8_t> img = small_image();
  // Key length of metadata key 1 ('general.architecture').
  size_t key_len = locate(img, "general.architecture") - 8 - std::strlen("general.architecture");
  auto bad = img;
  poke<uint64_t>(bad, key_len, 0xFFFFFFFFull);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated,
                    "truncated in metadata key 1: key length 4294967295 exceeds remaining");
  // The value string's length.
  bad = img;
  poke<uint64_t>(bad, type_at(img, "general.architecture") + 4, uint64_t{1} << 63);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated,
                    "metadata key 1 ('general.architecture'): string length 9223372036854775808 exceeds remaining");
  // String array: element count, then one element's length.
  size_t tokens = type_at(img, "test.tokens");
  bad = img;
  poke<uint64_t>(bad, tokens + 8, ~uint64_t{0});
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "strings");
  bad = img;
  poke<uint64_t>(bad, tokens + 16 + 8 + 5, uint64_t{1} << 40);  // element 1 ('a')
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "element 1: string length 1099511627776");
  // Fixed-size array count so large that count * 4 would wrap.
  bad = img;
  poke<uint64_t>(bad, type_at(img, "test.ints") + 8, uint64_t{1} << 62);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "array of 4611686018427387904 i32");
}

TEST(GgufBadFiles, BadValueTypes) {
  std::vector<uint8_t> img = small_image();
  size_t ints = type_at(img, "test.ints");
  auto bad = img;
  poke<uint32_t>(bad, ints + 4, 9);  // array of arrays
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatUnsupported, "nested arrays");
  poke<uint32_t>(bad, ints + 4, 13);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "unknown array element type 13");
  for (uint32_t t : {13u, 0xFFFFFFFFu}) {
    bad = img;
    poke<uint32_t>(bad, type_at(img, "test.u32"), t);
    EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "metadata key 2 ('test.u32'): unknown value type");
  }
  bad = img;
  poke<uint8_t>(bad, type_at(img, "test.flag") + 4, 2);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "bool value 2");
}

TEST(GgufBadFiles, BadDimensions) {
  std::vector<uint8_t> img = small_image();
  InfoAt q4 = info_at(img, "t.q4_0");
  for (uint32_t n : {0u, 5u, 0xFFFFFFFFu}) {
    auto bad = img;
    poke<uint32_t>(bad, q4.n_dims, n);
    EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "tensor info 1 ('t.q4_0'): " + std::to_string(n) + " dimensions");
  }
  auto bad = img;
  poke<uint64_t>(bad, q4.dims + 8, 0);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatUnsupported, "dimension 1 is 0");
  bad = img;
  poke<uint64_t>(bad, q4.dims, uint64_t{1} << 32);
  poke<uint64_t>(bad, q4.dims + 8, uint64_t{1} << 32);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "overflow");
  bad = img;
  poke<uint64_t>(bad, q4.dims + 8, ~uint64_t{0});
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "overflow");
  bad = img;
  poke<uint64_t>(bad, q4.dims, 48);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "ne[0] = 48 is not a multiple of the q4_0 block size 32");
  bad = img;  // large but representable: the data cannot fit in the file
  poke<uint64_t>(bad, q4.dims + 8, uint64_t{1} << 40);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "t.q4_0");
}

TEST(GgufBadFiles, UnknownTensorTypes) {
  std::vector<uint8_t> img = small_image();
  InfoAt q4 = info_at(img, "t.q4_0");
  const std::pair<uint32_t, const char*> cases[] = {{99, "tensor type 99"}, {4, "q4_2"}, {5, "q4_3"}, {23, "iq4_xs"}};
  for (auto [type, text] : cases) {
    auto bad = img;
    poke<uint32_t>(bad, q4.type, type);
    EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatUnsupported, text);
  }
}

TEST(GgufBadFiles, TensorPlacement) {
  std::vector<uint8_t> img = small_image();
  InfoAt last = info_at(img, "t.q8_0");
  InfoAt q4 = info_at(img, "t.q4_0");
  uint64_t off = peek<uint64_t>(img, last.offset);
  auto bad = img;
  poke<uint64_t>(bad, last.offset, off + 32 * 1000);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "tensor 't.q8_0' data [offset");
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "extends past end of file (size " + std::to_string(img.size()) + ")");
  bad = img;
  poke<uint64_t>(bad, last.offset, ~uint64_t{0} - 31);  // aligned, and offset + data_offset wraps
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatTruncated, "extends past end of file");
  bad = img;
  poke<uint64_t>(bad, last.offset, off + 1);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "not a multiple of the alignment 32");
  bad = img;
  poke<uint64_t>(bad, last.offset, peek<uint64_t>(img, q4.offset));
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "overlaps");
}

TEST(GgufBadFiles, BadAlignment) {
  std::vector<uint8_t> img = small_image();
  size_t at = type_at(img, "general.alignment");
  for (uint32_t a : {0u, 3u, 48u, 1u << 21}) {
    auto bad = img;
    poke<uint32_t>(bad, at + 4, a);
    EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "alignment " + std::to_string(a) + " is not a power of two");
  }
  auto bad = img;
  poke<uint32_t>(bad, at, static_cast<uint32_t>(ValueType::kF32));
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "general.alignment");
  // A valid but larger alignment that the tensor offsets (0, 32, 96) do not honour.
  bad = img;
  poke<uint32_t>(bad, at + 4, 64);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "data offset 32 is not a multiple of the alignment 64");
}

TEST(GgufBadFiles, DuplicateNames) {
  std::vector<uint8_t> img = small_image();
  auto bad = img;
  size_t name = locate(img, "t.q8_0") - 6;
  std::memcpy(bad.data() + name, "t.q4_0", 6);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "tensor info 2 ('t.q4_0'): duplicate tensor name");
  bad = img;
  // "test.flag" (key 3) becomes "test.ints", which key 5 also is; same length, so the rest parses.
  size_t flag = locate(img, "test.flag") - 9;
  std::memcpy(bad.data() + flag, "test.ints", 9);
  EXPECT_GGUF_ERROR(parse_copy(bad), Error::kFormatInvalid, "duplicate key");
}

// ---------------------------------------------------------------------------------------
// I/O errors

TEST(GgufIo, OpenErrorsNameThePath) {
  std::string dir = test::temp_dir();
  auto missing = File::open(dir + "/missing.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Error::kIoNotFound);
  EXPECT_NE(missing.error().message.find(dir + "/missing.gguf: cannot open: No such file"), std::string::npos)
      << missing.error().message;

  auto is_dir = File::open(dir);
  ASSERT_FALSE(is_dir.ok());
  EXPECT_EQ(is_dir.error().code, Error::kIoRead);
  EXPECT_NE(is_dir.error().message.find("is a directory"), std::string::npos) << is_dir.error().message;

  std::string empty = dir + "/empty.gguf";
  std::ofstream(empty).close();
  auto e = File::open(empty);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Error::kFormatTruncated);
  EXPECT_NE(e.error().message.find(empty + ": empty file"), std::string::npos) << e.error().message;

  std::string bad = dir + "/bad.gguf";
  std::ofstream(bad, std::ios::binary) << "PK\x03\x04 not a model";
  auto b = File::open(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, Error::kFormatBadMagic);
  EXPECT_NE(b.error().message.find(bad), std::string::npos);
}

TEST(GgufIo, UnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: file permissions cannot deny reading";
  std::string path = test::temp_dir() + "/locked.gguf";
  Writer w;
  w.set_string("general.architecture", "llama");
  ASSERT_TRUE(w.write(path).ok());
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  auto r = File::open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::kIoPermission);
  EXPECT_NE(r.error().message.find(path), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Fuzzing: random corruptions never crash (ASan/UBSan in the debug preset catch what a
// plain run would not), and every failure names the file.

TEST(GgufFuzz, RandomCorruptionsNeverCrash) {
  const std::vector<uint8_t> img = small_image();
  std::mt19937_64 rng(20240611);
  const uint64_t interesting[] = {0, 1, 2, 4, 8, 9, 13, 31, 32, 0x7F, 0x80, 0xFF, 0xFFFF, 0xFFFFFFFF,
                                  uint64_t{1} << 31, uint64_t{1} << 63, ~uint64_t{0}};
  int failed = 0, passed = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::vector<uint8_t> m = img;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0: m[at] = static_cast<uint8_t>(rng()); break;
        case 1: m[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        default: {  // an interesting value over a 4- or 8-byte field
          uint64_t v = interesting[rng() % std::size(interesting)];
          size_t w = rng() % 2 ? 8 : 4;
          if (at + w <= m.size()) std::memcpy(m.data() + at, &v, w);
        }
      }
    }
    if (rng() % 8 == 0) m.resize(rng() % m.size());
    std::unique_ptr<uint8_t[]> buf = exact_copy(m, m.size());
    auto f = File::parse(buf.get(), m.size(), kBadName);
    if (!f.ok()) {
      ++failed;
      ASSERT_EQ(f.error().message.rfind(std::string(kBadName) + ": ", 0), 0u) << f.error().message;
      continue;
    }
    ++passed;
    // A file that parses is safe to walk in full.
    double sink = 0;
    for (const KeyValue& kv : (*f)->metadata()) {
      const Value& v = kv.value;
      if (v.is_array()) {
        for (uint64_t i = 0; i < v.array_size(); ++i) {
          if (v.array_type() == ValueType::kString) sink += static_cast<double>(v.array_string(i).size());
          else if (v.array_type() != ValueType::kArray) sink += v.array_f64(i);
        }
      } else if (v.is_string()) {
        sink += static_cast<double>(v.as_string().size());
      } else {
        sink += v.as_f64();
      }
    }
    for (const TensorInfo& t : (*f)->tensors()) {
      const uint8_t* p = static_cast<const uint8_t*>(t.data);
      sink += p[0] + p[t.bytes - 1];
    }
    (void)sink;
  }
  EXPECT_GT(failed, 1000);
  EXPECT_GT(passed, 10);  // some corruptions hit tensor data or string bytes, which are not checked
}

}  // namespace
}  // namespace airt::gguf
