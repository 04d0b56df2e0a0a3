// Model: a GGUF file bound to a llama-family architecture — hyperparameters read and
// checked, every tensor found by name and checked against its expected shape.
//
// Ownership: Model owns the gguf::File; every WeightTensor points into its mapping and
// is valid while the Model lives. Nothing here allocates per token.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hal/dtype.h"
#include "models/arch.h"
#include "runtime/core/result.h"
#include "runtime/gguf/gguf.h"

namespace airt::model {

struct Hparams {
  std::string arch;
  int32_t n_vocab = 0;
  int32_t dim = 0;         // embedding length
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;    // dim / n_head
  int32_t n_ff = 0;
  int32_t n_rot = 0;       // rotated dims per head
  int32_t n_ctx_train = 0;
  float rope_base = 10000.0f;
  float rope_scale = 1.0f;  // positions are multiplied by this (linear scaling)
  float rms_eps = 1e-5f;
  models::RopeMode rope_mode = models::RopeMode::kAdjacent;
  bool tied_output = false;

  int32_t kv_dim() const { return n_head_kv * head_dim; }
  int32_t q_dim() const { return n_head * head_dim; }
};

// A weight matrix used in place: rows of `cols` elements of `type`.
struct WeightTensor {
  const void* data = nullptr;
  hal::DType type = hal::DType::kF32;
  int64_t cols = 0;  // ne[0], the reduction dimension K
  int64_t rows = 0;  // ne[1], output features
  size_t row_bytes = 0;
  std::string_view name;  // into the mapping's tensor table (for messages)
  bool packed = false;    // a repacked copy in hal/cpu/packed.h's panels, not the mapped rows
};

struct LayerWeights {
  WeightTensor attn_norm;  // (dim) f32
  WeightTensor wq;         // (dim -> n_head*head_dim)
  WeightTensor wk;         // (dim -> n_head_kv*head_dim)
  WeightTensor wv;         // (dim -> n_head_kv*head_dim)
  WeightTensor bq, bk, bv; // (q_dim / kv_dim) f32, qwen2 only
  WeightTensor wo;         // (q_dim -> dim)
  WeightTensor ffn_norm;   // (dim) f32
  WeightTensor w_gate;     // (dim -> n_ff)
  WeightTensor w_up;       // (dim -> n_ff)
  WeightTensor w_down;     // (n_ff -> dim)
};

struct Weights {
  WeightTensor token_embd;   // (dim) x n_vocab, one row per token
  WeightTensor output_norm;  // (dim) f32
  WeightTensor output;       // (dim -> n_vocab); token_embd when tied
  std::vector<LayerWeights> layers;
};

// One GGUF file of the model: its weights, used in place from its mapping.
struct Tier {
  std::unique_ptr<gguf::File> file;
  Weights weights;
  size_t weight_bytes = 0;                    // tensor data in the file
  hal::DType main_type = hal::DType::kF32;    // the most common matrix type ("q4_0")
};

class Model {
 public:
  // Opens, validates and binds `path`. Errors name the file and, for tensors, the
  // tensor and its expected shape.
  static Result<std::unique_ptr<Model>> load(const std::string& path);
  // Binds an already opened file (takes ownership).
  static Result<std::unique_ptr<Model>> bind(std::unique_ptr<gguf::File> file);

  // Weight tiers: further files of the same model at other quantizations (the ladder).
  // Each must have the architecture, hyperparameters, tensor names and shapes and the
  // vocabulary of the first; the error names the file and the first difference. All
  // tiers stay mapped; a forward pass reads the weights of the tier it is given.
  Status add_tier(const std::string& path);
  Status add_tier(std::unique_ptr<gguf::File> file);
  int32_t n_tiers() const { return int32_t(tiers_.size()); }
  const Tier& tier(int32_t i) const { return tiers_[size_t(i)]; }
  // "q8_0": the tier's main matrix type, for reports and operating points.
  const char* tier_name(int32_t i) const { return hal::dtype_name(tiers_[size_t(i)].main_type); }
  // The tier whose main type is named `name` ("q4_0"), or -1.
  int32_t find_tier(std::string_view name) const;

  const Hparams& hparams() const { return hp_; }
  // The first tier's weights, file and types (the model as loaded).
  const Weights& weights() const { return tiers_[0].weights; }
  const gguf::File& file() const { return *tiers_[0].file; }
  const models::ArchDescriptor& arch() const { return *arch_; }
  // Bytes of tensor data in the first file (what decoding reads per token, roughly).
  size_t weight_bytes() const { return tiers_[0].weight_bytes; }
  // Bytes of tensor data over every tier (what is mapped).
  size_t mapped_bytes() const;
  hal::DType main_type() const { return tiers_[0].main_type; }

 private:
  Model() = default;
  const models::ArchDescriptor* arch_ = nullptr;
  Hparams hp_;
  std::vector<Tier> tiers_;
};

Result<Hparams> read_hparams(const gguf::File& f, const models::ArchDescriptor& arch);

// Bytes of weights a one-row pass reads: every layer's tensors and the output head (the
// embedding table gives one row), leaving out the layers set in `skip` (bit l of
// skip[l / 64]). What a decode step costs, roughly, where memory bandwidth bounds it.
size_t pass_bytes(const Weights& w, std::span<const uint64_t> skip = {});

}  // namespace airt::model
