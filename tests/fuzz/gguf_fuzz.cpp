// libFuzzer target for the GGUF reader: any input must either fail with an error or parse
// into a File whose every value and tensor byte can be read without leaving the buffer.
//
// Not part of the CMake build (it needs clang's -fsanitize=fuzzer). Build and run:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     tests/fuzz/gguf_fuzz.cpp runtime/gguf/*.cpp hal/dtype.cpp runtime/core/result.cpp -o gguf_fuzz
//   ./gguf_fuzz -max_total_time=60 corpus/   (seed corpus/ with small .gguf files)
#include <cstddef>
#include <cstdint>

#include "runtime/gguf/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = airt::gguf::File::parse(data, size, "fuzz.gguf");
  if (!r.ok()) return 0;
  volatile double sink = 0;
  for (const airt::gguf::KeyValue& kv : (*r)->metadata()) {
    const airt::gguf::Value& v = kv.value;
    if (v.is_array()) {
      for (uint64_t i = 0; i < v.array_size(); ++i) {
        if (v.array_type() == airt::gguf::ValueType::kString) sink = sink + static_cast<double>(v.array_string(i).size());
        else sink = sink + v.array_f64(i);
      }
    } else if (v.is_string()) {
      sink = sink + static_cast<double>(v.as_string().size());
    } else {
      sink = sink + v.as_f64();
    }
  }
  for (const airt::gguf::TensorInfo& t : (*r)->tensors()) {
    const uint8_t* p = static_cast<const uint8_t*>(t.data);
    sink = sink + p[0] + p[t.bytes - 1];
  }
  return 0;
}
