// TextStream: turns a sequence's token pieces into text deltas that are safe to send —
// whole UTF-8 sequences only, and nothing that might still become the start of a stop
// string. Fixed capacity, set at start-up; push() performs no heap allocation.
//
// Ownership: the buffers live in the caller's arena (carve()) and must outlive the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "runtime/core/arena.h"
#include "runtime/core/result.h"

namespace airt::engine {

class TextStream {
 public:
  // Arena bytes for up to `max_stop` stop strings of `max_stop_bytes` each and pieces of
  // up to `max_piece_bytes`.
  static size_t arena_bytes(int32_t max_stop, int32_t max_stop_bytes, size_t max_piece_bytes);
  Status carve(Arena& arena, int32_t max_stop, int32_t max_stop_bytes, size_t max_piece_bytes);

  // Starts a new request. Errors (kRequestInvalid / kRequestTooLarge) name the stop
  // string that does not fit; empty strings are ignored.
  template <class S>
  Status reset(std::span<const S> stop) {
    n_stop_ = 0;
    held_ = 0;
    for (const auto& s : stop) AIRT_TRY(add_stop(std::string_view(s)));
    return {};
  }

  struct Delta {
    std::string_view text;  // final text to send now (valid until the next push/flush)
    bool stopped = false;   // a stop string matched; `text` ends before it
  };
  // Appends one token's piece.
  Delta push(std::string_view piece);
  // Everything still held back (the request ended without a stop match).
  std::string_view flush();

 private:
  Status add_stop(std::string_view s);
  // Bytes at the end of held_ that must wait: a possible stop-string start or an
  // incomplete UTF-8 sequence.
  size_t must_wait() const;

  char* stops_ = nullptr;  // max_stop_ x max_stop_bytes_
  int32_t* stop_len_ = nullptr;
  int32_t max_stop_ = 0;
  int32_t max_stop_bytes_ = 0;
  int32_t n_stop_ = 0;
  char* buf_ = nullptr;    // held text, then room for one piece
  size_t cap_ = 0;
  size_t held_ = 0;
  char* out_ = nullptr;    // what push()/flush() return points here
};

}  // namespace airt::engine
