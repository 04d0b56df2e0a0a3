#include "models/arch.h"

namespace airt::models {
namespace {

// Mistral-style files declare general.architecture = "llama" and need nothing more.
constexpr ArchDescriptor kArchs[] = {
    {"llama", RopeMode::kAdjacent, /*qkv_bias=*/false, 10000.0f, 1e-5f},
    {"qwen2", RopeMode::kNeox, /*qkv_bias=*/true, 1000000.0f, 1e-6f},
};

}  // namespace

const ArchDescriptor* find_arch(std::string_view name) {
  for (const ArchDescriptor& a : kArchs)
    if (name == a.name) return &a;
  return nullptr;
}

std::span<const ArchDescriptor> all_archs() { return kArchs; }

}  // namespace airt::models
