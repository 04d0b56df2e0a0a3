#include "models/synthetic.h"

namespace airt::models {
namespace {

// Hyperparameters as published in each model's configuration.
constexpr SyntheticShape kShapes[] = {
    // name            arch     dim  layers heads kv  ffn   vocab   ctx    rope base  tied
    {"tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f, false},
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 131072, 500000.0f, true},
    {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, 1000000.0f, true},
    {"smollm2-135m", "llama", 576, 30, 9, 3, 1536, 49152, 8192, 100000.0f, true},
    // Not a published model: a 0.2M-parameter shape for tests, fuzzers and the demo, small
    // enough for emulators. Its 64-wide rows take the K-quants' 32-element fallback types,
    // its 256-wide ffn_down rows the K-quants themselves, as smollm2's 576/1536 do.
    {"airt-micro", "llama", 64, 2, 4, 2, 256, 512, 512, 10000.0f, true},
};

}  // namespace

const SyntheticShape* find_synthetic_shape(std::string_view name) {
  for (const SyntheticShape& s : kShapes)
    if (name == s.name) return &s;
  return nullptr;
}

std::span<const SyntheticShape> synthetic_shapes() { return kShapes; }

}  // namespace airt::models
