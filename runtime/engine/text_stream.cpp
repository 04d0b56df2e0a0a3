#include "runtime/engine/text_stream.h"

#include <algorithm>
#include <cstring>

namespace airt::engine {
namespace {

size_t capacity(int32_t max_stop_bytes, size_t max_piece_bytes) {
  // Held text is shorter than the longest stop string plus an incomplete UTF-8 sequence.
  return size_t(max_stop_bytes) + 4 + max_piece_bytes;
}

// Length of the UTF-8 sequence a lead byte starts (1 for ASCII and stray bytes).
size_t utf8_len(unsigned char c) {
  if (c >= 0xF0 && c <= 0xF7) return 4;
  if (c >= 0xE0) return c <= 0xEF ? 3 : 1;
  if (c >= 0xC0) return 2;
  return 1;
}

}  // namespace

size_t TextStream::arena_bytes(int32_t max_stop, int32_t max_stop_bytes, size_t max_piece_bytes) {
  const size_t a = Arena::kDefaultAlign;
  return align_up(size_t(max_stop) * size_t(max_stop_bytes), a) + align_up(size_t(max_stop) * sizeof(int32_t), a) +
         2 * align_up(capacity(max_stop_bytes, max_piece_bytes), a);
}

Status TextStream::carve(Arena& arena, int32_t max_stop, int32_t max_stop_bytes, size_t max_piece_bytes) {
  max_stop_ = max_stop;
  max_stop_bytes_ = max_stop_bytes;
  cap_ = capacity(max_stop_bytes, max_piece_bytes);
  stops_ = static_cast<char*>(arena.alloc(size_t(max_stop) * size_t(max_stop_bytes)));
  stop_len_ = arena.alloc_array<int32_t>(size_t(max_stop)).data();
  buf_ = static_cast<char*>(arena.alloc(cap_));
  out_ = static_cast<char*>(arena.alloc(cap_));
  if (!buf_ || !out_ || (max_stop > 0 && (!stops_ || !stop_len_))) {
    return errorf(Error::kInternal, "text stream: the arena is smaller than its plan");
  }
  return {};
}

Status TextStream::add_stop(std::string_view s) {
  if (s.empty()) return {};
  if (n_stop_ >= max_stop_) {
    return errorf(Error::kRequestInvalid, "more than %d stop strings", max_stop_);
  }
  if (s.size() > size_t(max_stop_bytes_)) {
    return errorf(Error::kRequestTooLarge, "stop string of %zu bytes is longer than the %d allowed", s.size(),
                  max_stop_bytes_);
  }
  std::memcpy(stops_ + size_t(n_stop_) * size_t(max_stop_bytes_), s.data(), s.size());
  stop_len_[n_stop_++] = int32_t(s.size());
  return {};
}

size_t TextStream::must_wait() const {
  size_t wait = 0;
  for (int32_t i = 0; i < n_stop_; ++i) {
    const char* st = stops_ + size_t(i) * size_t(max_stop_bytes_);
    const size_t len = size_t(stop_len_[i]);
    for (size_t k = std::min(len - 1, held_); k > wait; --k) {
      if (std::memcmp(buf_ + held_ - k, st, k) == 0) {
        wait = k;
        break;
      }
    }
  }
  // An incomplete UTF-8 sequence at the end waits for its continuation bytes.
  for (size_t back = 1; back <= 3 && back <= held_; ++back) {
    unsigned char c = static_cast<unsigned char>(buf_[held_ - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    if (utf8_len(c) > back) wait = std::max(wait, back);
    break;
  }
  return wait;
}

TextStream::Delta TextStream::push(std::string_view piece) {
  // A piece never exceeds the tokenizer's longest, for which the buffer has room.
  const size_t n = std::min(piece.size(), cap_ - held_);
  if (n) std::memcpy(buf_ + held_, piece.data(), n);
  held_ += n;
  size_t match = held_;
  for (int32_t i = 0; i < n_stop_; ++i) {
    std::string_view hay(buf_, held_);
    size_t at = hay.find(std::string_view(stops_ + size_t(i) * size_t(max_stop_bytes_), size_t(stop_len_[i])));
    if (at != std::string_view::npos) match = std::min(match, at);
  }
  if (match < held_) {
    if (match) std::memcpy(out_, buf_, match);
    held_ = 0;
    return {{out_, match}, true};
  }
  const size_t keep = must_wait();
  const size_t emit = held_ - keep;
  std::memcpy(out_, buf_, emit);
  std::memmove(buf_, buf_ + emit, keep);
  held_ = keep;
  return {{out_, emit}, false};
}

std::string_view TextStream::flush() {
  std::memcpy(out_, buf_, held_);
  size_t n = held_;
  held_ = 0;
  return {out_, n};
}

}  // namespace airt::engine
