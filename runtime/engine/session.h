// Sessions: one sequence's tokens and KV blocks (and optionally the logits of its last
// position) saved to a zstd-compressed file, so a conversation resumes without
// re-evaluating it. Files are written atomically; a file from another model, with
// another KV precision or block size, or damaged in any way is refused with an error
// that says which. Start-up / request-boundary code: allocates.
//
// File: "AIRTSESS" | u32 version | zstd frame (with content checksum) of the payload:
//   header (model fingerprint, geometry, KV types, window, positions), tokens (int32),
//   logits (f32, optional), then each held block: pos0, types, rows, and per layer its
//   K rows then V rows (only the rows the sequence wrote).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"

namespace airt::engine {

// Identifies a model's weights: architecture, shapes and types, and samples of tensor data.
uint64_t model_fingerprint(const model::Model& m);

// Saves sequence `seq` of `kv`, whose block bytes `store` keeps: `tokens` are the tokens
// at positions 0..seq_pos(seq)-1 (fewer is an error), `logits` the last position's (may
// be empty).
Status session_save(const std::string& path, const model::Model& m, const model::KvCache& kv,
                    const model::KvStore& store, int32_t seq, std::span<const int32_t> tokens,
                    std::span<const float> logits);

class Session {
 public:
  // Reads and validates `path` against the model and the cache it will be restored into.
  // kIoNotFound when the file does not exist (callers start a fresh session then).
  static Result<Session> read(const std::string& path, const model::Model& m, const model::KvCache& kv);

  std::span<const int32_t> tokens() const { return tokens_; }
  std::span<const float> logits() const { return logits_; }
  int32_t window() const { return window_; }
  // Positions whose KV the file holds (tokens() may hold one more: sampled, not evaluated).
  int32_t positions() const { return n_pos_; }
  int32_t sinks() const { return sinks_; }

  // Restores positions [0, n) into the empty sequence `seq` (n <= tokens().size(); with
  // n < size the logits no longer apply). The sequence's window is left to the caller
  // (window() and sinks() say what it was); positions the saved window had dropped stay
  // absent either way.
  Status restore(model::KvCache& kv, model::KvStore& store, int32_t seq, int32_t n) const;

  // A saved block, as read() found it.
  struct Block {
    int32_t pos0;
    int32_t rows;
    model::KvTypes types;
    size_t offset;  // into data_: per layer rows*k_row_bytes K, then rows*v_row_bytes V
  };

 private:
  std::string path_;
  std::vector<int32_t> tokens_;
  std::vector<float> logits_;
  std::vector<Block> blocks_;
  std::string data_;
  int32_t window_ = 0;
  int32_t sinks_ = 0;
  int32_t n_pos_ = 0;
};

}  // namespace airt::engine
