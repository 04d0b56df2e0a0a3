// Shapes of well-known models, for benchmarking any board without downloading
// anything: `airt bench --synthetic tinyllama-1.1b:q4_0` writes a random-weight GGUF
// file of that shape.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace airt::models {

struct SyntheticShape {
  const char* name;
  const char* arch;  // "llama" or "qwen2"
  int32_t dim;
  int32_t n_layer;
  int32_t n_head;
  int32_t n_head_kv;
  int32_t n_ff;
  int32_t n_vocab;
  int32_t n_ctx_train;
  float rope_base;
  bool tied_output;
};

const SyntheticShape* find_synthetic_shape(std::string_view name);
std::span<const SyntheticShape> synthetic_shapes();

}  // namespace airt::models
