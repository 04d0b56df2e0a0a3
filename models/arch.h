// Architecture descriptors: what distinguishes one llama-family architecture from
// another — where its hyperparameters live, how its tensors are named, which graph
// variant (RoPE mode, biases) it uses. One descriptor per architecture, one table.
#pragma once

#include <span>
#include <string_view>

namespace airt::models {

enum class RopeMode {
  kAdjacent,  // rotate (x[2i], x[2i+1]): llama, mistral
  kNeox,      // rotate (x[i], x[i + n_rot/2]): qwen2
};

struct ArchDescriptor {
  const char* name;           // the value of general.architecture
  RopeMode rope_mode;
  bool qkv_bias;              // attn_{q,k,v}.bias tensors are required
  float default_rope_base;    // when <arch>.rope.freq_base is absent
  float default_rms_eps;      // when <arch>.attention.layer_norm_rms_epsilon is absent
};

// Tensor names shared by the llama family (GGUF naming). Per-layer names take the
// block index through "%d".
namespace tensor_names {
inline constexpr const char* kTokenEmbd = "token_embd.weight";
inline constexpr const char* kOutputNorm = "output_norm.weight";
inline constexpr const char* kOutput = "output.weight";  // absent: tied to token_embd
inline constexpr const char* kAttnNorm = "blk.%d.attn_norm.weight";
inline constexpr const char* kAttnQ = "blk.%d.attn_q.weight";
inline constexpr const char* kAttnK = "blk.%d.attn_k.weight";
inline constexpr const char* kAttnV = "blk.%d.attn_v.weight";
inline constexpr const char* kAttnQBias = "blk.%d.attn_q.bias";
inline constexpr const char* kAttnKBias = "blk.%d.attn_k.bias";
inline constexpr const char* kAttnVBias = "blk.%d.attn_v.bias";
inline constexpr const char* kAttnOut = "blk.%d.attn_output.weight";
inline constexpr const char* kFfnNorm = "blk.%d.ffn_norm.weight";
inline constexpr const char* kFfnGate = "blk.%d.ffn_gate.weight";
inline constexpr const char* kFfnUp = "blk.%d.ffn_up.weight";
inline constexpr const char* kFfnDown = "blk.%d.ffn_down.weight";
}  // namespace tensor_names

// The descriptor for general.architecture == name, or nullptr.
const ArchDescriptor* find_arch(std::string_view name);
std::span<const ArchDescriptor> all_archs();

}  // namespace airt::models
