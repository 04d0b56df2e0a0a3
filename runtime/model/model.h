// Model: a GGUF file bound to a llama-family architecture — hyperparameters read and
// checked, every tensor found by name and checked against its expected shape.
//
// Ownership: Model owns the gguf::File; every WeightTensor points into its mapping and
// is valid while the Model lives. Nothing here allocates per token.
#pragma once

#include <cstdint>
#include <memory>
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

class Model {
 public:
  // Opens, validates and binds `path`. Errors name the file and, for tensors, the
  // tensor and its expected shape.
  static Result<std::unique_ptr<Model>> load(const std::string& path);
  // Binds an already opened file (takes ownership).
  static Result<std::unique_ptr<Model>> bind(std::unique_ptr<gguf::File> file);

  const Hparams& hparams() const { return hp_; }
  const Weights& weights() const { return w_; }
  const gguf::File& file() const { return *file_; }
  const models::ArchDescriptor& arch() const { return *arch_; }
  // Bytes of tensor data in the file (what decoding reads per token, roughly).
  size_t weight_bytes() const { return weight_bytes_; }
  // The most common matrix type ("q4_0"), for reports.
  hal::DType main_type() const { return main_type_; }

 private:
  Model() = default;
  std::unique_ptr<gguf::File> file_;
  const models::ArchDescriptor* arch_ = nullptr;
  Hparams hp_;
  Weights w_;
  size_t weight_bytes_ = 0;
  hal::DType main_type_ = hal::DType::kF32;
};

Result<Hparams> read_hparams(const gguf::File& f, const models::ArchDescriptor& arch);

}  // namespace airt::model
