// Writes a random-weight GGUF model of a known shape (models/synthetic.h), with a minimal
// SentencePiece vocabulary so other runtimes load the same file.
#pragma once

#include <cstdint>
#include <string>

#include "hal/dtype.h"
#include "models/synthetic.h"
#include "runtime/core/result.h"

namespace airt::bench {

// Every matrix (embeddings and output included) is stored as `type`; norms are f32.
Status write_synthetic_model(const models::SyntheticShape& shape, hal::DType type, const std::string& path,
                             uint64_t seed = 1);

// Parses "tinyllama-1.1b:q4_0" into a shape and a type; errors list what is known.
struct SyntheticSpec {
  const models::SyntheticShape* shape = nullptr;
  hal::DType type = hal::DType::kQ4_0;
};
Result<SyntheticSpec> parse_synthetic_spec(const std::string& spec);

}  // namespace airt::bench
