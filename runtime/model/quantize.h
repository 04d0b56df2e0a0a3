// Quantizing a GGUF model file: F32/F16/BF16 (or Q8_0) weights to Q8_0, Q4_0, Q5_0,
// Q4_K, Q6_K or the Q4_K_M mix, for the quantization ladder.
//
// Which tensor gets which type follows the widely used recipe (llama.cpp's
// llama-quant.cpp), so files made here match what users already have:
// - only matrices (2+ dims) whose name ends in "weight" and that are not norms are
//   quantized; vectors (norms, biases) keep their type;
// - the output matrix (output.weight, or token_embd.weight when the output is tied to
//   it) is Q6_K unless the base type is Q8_0 (and Q8_0 when its rows do not fit the base
//   type's blocks);
// - q4_k_m: attn_v and ffn_down of the first 1/8, the last 1/8 and every third layer in
//   between are Q6_K;
// - a matrix whose rows are not whole blocks of its type falls back: Q4_K -> Q5_0,
//   Q6_K -> Q8_0, and to F16 when even 32-blocks do not fit.
//
// The output is written tensor by tensor through gguf::StreamWriter (temporary file,
// renamed when complete): memory holds one chunk of rows at a time, not the model.
#pragma once

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "hal/dtype.h"
#include "runtime/core/result.h"
#include "runtime/gguf/gguf.h"

namespace airt::model {

struct QuantRecipe {
  const char* name;    // "q4_k_m", what the user types
  hal::DType base;     // the type of most matrices
  uint32_t file_type;  // general.file_type (llama_ftype numbering)
  bool k_mix;          // the _M mix: more bits for attn_v and ffn_down in some layers
};

// The recipe named `name` (case-insensitive), or nullptr.
const QuantRecipe* quant_recipe_find(std::string_view name);
// "q8_0, q4_0, ...": every recipe, for usage and error messages.
std::string quant_recipe_names();

struct TensorChoice {
  std::string name;
  hal::DType from = hal::DType::kF32;
  hal::DType to = hal::DType::kF32;
  std::string note;  // why `to` is not the recipe's type (a fallback); empty otherwise
};

// The output type of every tensor of `in`, in file order. Fails (kFormatUnsupported,
// naming the file and the tensor) when a tensor that would change type is stored in a
// type it cannot be converted from (already quantized below Q8_0).
Result<std::vector<TensorChoice>> quant_plan(const gguf::File& in, const QuantRecipe& r);

struct QuantizeOptions {
  int threads = 1;  // rows are quantized in parallel on this many threads
  // Called after each chunk with bytes of input done and in total, and the tensor.
  std::function<void(uint64_t done, uint64_t total, std::string_view tensor)> progress;
  // Checked between chunks: when set (e.g. by a SIGINT handler) quantizing stops with
  // kRequestCancelled and the temporary file is removed.
  const volatile std::sig_atomic_t* cancel = nullptr;
};

struct QuantizeStats {
  uint64_t in_bytes = 0;   // tensor data read
  uint64_t out_bytes = 0;  // tensor data written
  int n_tensors = 0;
  int n_converted = 0;     // tensors whose type changed
};

// Writes `in` quantized by `plan` (from quant_plan) to `out_path`; every metadata key is
// kept, general.file_type set to r.file_type, the alignment kept. Errors name the file
// (a missing directory, a full disk); no partial output is left behind.
Result<QuantizeStats> quantize_file(const gguf::File& in, const std::vector<TensorChoice>& plan,
                                    const QuantRecipe& r, const std::string& out_path, const QuantizeOptions& o);

}  // namespace airt::model
