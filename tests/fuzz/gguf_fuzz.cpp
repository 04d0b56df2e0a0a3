// libFuzzer target for the GGUF reader: any input must either fail with an error or parse
// into a File whose every value and tensor byte can be read without leaving the buffer,
// and whose typed getters answer every key with a value or an error (never a crash).
// Build and run: `make fuzz` (tests/fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "tests/fuzz/fuzz_support.h"

namespace airt {
namespace {

using gguf::ValueType;

void touch_value(const gguf::Value& v, volatile double& sink) {
  if (v.is_array()) {
    for (uint64_t i = 0; i < v.array_size(); ++i) {
      if (v.array_type() == ValueType::kString) sink = sink + static_cast<double>(v.array_string(i).size());
      else sink = sink + v.array_f64(i);
    }
  } else if (v.is_string()) {
    sink = sink + static_cast<double>(v.as_string().size());
  } else {
    sink = sink + v.as_f64();
  }
}

// Every typed getter on `key`: ok or an error that names the key.
void touch_getters(const gguf::File& f, std::string_view key, volatile double& sink) {
  auto named = [&](const ErrorInfo& e) {
    fuzz::check(e.code == Error::kFormatInvalid, "typed getter error is kFormatInvalid");
    fuzz::check(!e.message.empty(), "typed getter error has a message");
  };
  if (auto r = f.get_u64(key); r.ok()) sink = sink + double(*r); else named(r.error());
  if (auto r = f.get_i64(key); r.ok()) sink = sink + double(*r); else named(r.error());
  if (auto r = f.get_f64(key); r.ok()) sink = sink + *r; else named(r.error());
  if (auto r = f.get_bool(key); r.ok()) sink = sink + *r; else named(r.error());
  if (auto r = f.get_string(key); r.ok()) sink = sink + double(r->size()); else named(r.error());
  if (auto r = f.get_int_array(key); r.ok()) sink = sink + double((*r)->array_size()); else named(r.error());
  if (auto r = f.get_array(key, ValueType::kString); r.ok()) sink = sink + double((*r)->array_size());
  else named(r.error());
}

// Small, valid files of each kind the reader meets: vocabulary-only, every scalar and
// array type, tensors of several types and ranks, a custom alignment.
void write_seeds() {
  {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_array_string("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a", "b"});
    w.set_array_f32("tokenizer.ggml.scores", {0, 0, 0, -1, -2});
    w.set_array_i32("tokenizer.ggml.token_type", {2, 3, 3, 1, 1});
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    auto img = w.serialize();
    fuzz::write_seed("vocab.gguf", {reinterpret_cast<const char*>(img.data()), img.size()});
  }
  {
    gguf::Writer w;
    w.set_u8("k.u8", 1); w.set_i8("k.i8", -1); w.set_u16("k.u16", 2); w.set_i16("k.i16", -2);
    w.set_u32("k.u32", 3); w.set_i32("k.i32", -3); w.set_u64("k.u64", 4); w.set_i64("k.i64", -4);
    w.set_f32("k.f32", 0.5f); w.set_f64("k.f64", 0.25); w.set_bool("k.bool", false); w.set_string("k.str", "s");
    w.set_array_u8("k.au8", {1, 2, 3});
    w.set_alignment(64);
    auto img = w.serialize();
    fuzz::write_seed("scalars.gguf", {reinterpret_cast<const char*>(img.data()), img.size()});
  }
  {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 1);
    std::vector<uint8_t> bytes(4096, 0x11);
    const int64_t ne_f32[2] = {4, 2}, ne_f16[1] = {32}, ne_q[3] = {32, 2, 2}, ne_k[2] = {256, 1};
    (void)w.add_tensor("t.f32", hal::DType::kF32, ne_f32, bytes.data());
    (void)w.add_tensor("t.f16", hal::DType::kF16, ne_f16, bytes.data());
    (void)w.add_tensor("t.q4_0", hal::DType::kQ4_0, ne_q, bytes.data());
    (void)w.add_tensor("t.q8_0", hal::DType::kQ8_0, ne_q, bytes.data());
    (void)w.add_tensor("t.q4_k", hal::DType::kQ4_K, ne_k, bytes.data());
    auto img = w.serialize();
    fuzz::write_seed("tensors.gguf", {reinterpret_cast<const char*>(img.data()), img.size()});
  }
}

}  // namespace
}  // namespace airt

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  airt::write_seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = airt::gguf::File::parse(data, size, "fuzz.gguf");
  if (!r.ok()) return 0;
  volatile double sink = 0;
  for (const airt::gguf::KeyValue& kv : (*r)->metadata()) {
    airt::touch_value(kv.value, sink);
    airt::touch_getters(**r, kv.key, sink);
  }
  airt::touch_getters(**r, "absent.key", sink);
  for (const airt::gguf::TensorInfo& t : (*r)->tensors()) {
    airt::fuzz::check(t.bytes > 0 && t.data != nullptr, "a tensor has bytes");
    const uint8_t* p = static_cast<const uint8_t*>(t.data);
    sink = sink + p[0] + p[t.bytes - 1];
  }
  return 0;
}
