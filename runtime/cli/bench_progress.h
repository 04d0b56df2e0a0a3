// airt bench's progress bar with an ETA, on stderr when it is a terminal; nothing when
// piped (so logs and test output stay clean).
#pragma once

#include <cstdint>

namespace airt::cli {

class BenchProgress {
 public:
  explicit BenchProgress(int64_t total_steps);
  void step();  // one repetition done
  void done();  // clears the bar

 private:
  void draw() const;
  int64_t total_ = 0, done_ = 0;
  int64_t start_ns_ = 0;
  bool on_ = false;
};

}  // namespace airt::cli
