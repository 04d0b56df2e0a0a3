// A recorded or synthetic trace replayed as a sensor: a CSV file with a header line naming
// its columns, one row per time, e.g.
//
//   t_s,temp_c,power_w,mem_avail_mb,cpu_mhz
//   0,50.0,6.5,3000,2400
//   60,85.0,7.1,2900,1500
//
// t_s is required; every other column may be left out (and a cell left empty: that
// quantity is unknown at that row). cpu_max_mhz may be given; without it the trace's
// highest cpu_mhz is the maximum. Values between rows are interpolated linearly; before
// the first row and after the last the nearest row holds. Lines starting with # are
// comments.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "governor/sensors/source.h"
#include "runtime/core/result.h"

namespace airt::governor {

class Trace {
 public:
  // `name` (the file's path) starts every error message, with the line and the column.
  static Result<Trace> parse(std::string_view text, const std::string& name);
  static Result<Trace> load(const std::string& path);

  bool has(Quantity q) const;
  // The value at t_s, interpolated; nullopt when the trace has no such column.
  std::optional<double> at(Quantity q, double t_s) const;
  double start_s() const { return start_s_; }
  double end_s() const { return end_s_; }
  size_t rows() const { return rows_; }

 private:
  struct Column {
    Quantity quantity;
    const char* name;
    std::vector<std::pair<double, double>> points;  // (t_s, value), t ascending
  };
  Result<bool> parse_header(std::string_view line, const std::string& name);
  Result<bool> parse_row(std::string_view line, int line_no, const std::string& name);
  const Column* column(Quantity q) const;

  std::vector<int> layout_;  // per CSV column: index into columns_, -1 for t_s
  std::vector<Column> columns_;
  double start_s_ = 0, end_s_ = 0;
  size_t rows_ = 0;
};

class ReplaySource final : public Source {
 public:
  explicit ReplaySource(Trace trace) : trace_(std::move(trace)) {}
  const char* kind() const override { return "replay"; }
  size_t capacity() const override { return 5; }
  size_t read(double t_s, std::span<Sample> out) override;
  const Trace& trace() const { return trace_; }

 private:
  Trace trace_;
};

}  // namespace airt::governor
