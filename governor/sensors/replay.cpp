#include "governor/sensors/replay.h"

#include <algorithm>
#include <cstdlib>

#include "runtime/core/file.h"

namespace airt::governor {
namespace {

struct Known {
  const char* name;
  Quantity quantity;
  const char* unit;
};
constexpr Known kColumns[] = {
    {"temp_c", Quantity::kTemperature, "C"},         {"power_w", Quantity::kPowerTotal, "W"},
    {"mem_avail_mb", Quantity::kMemAvailable, "MB"}, {"cpu_mhz", Quantity::kCpuFreq, "MHz"},
    {"cpu_max_mhz", Quantity::kCpuMaxFreq, "MHz"},
};
constexpr const char* kKnownList = "t_s, temp_c, power_w, mem_avail_mb, cpu_mhz, cpu_max_mhz";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> cells;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    cells.push_back(trim(line.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return cells;
    start = comma + 1;
  }
}

std::optional<double> number(std::string_view cell) {
  std::string s(cell);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<bool> Trace::parse_header(std::string_view line, const std::string& name) {
  std::vector<std::string_view> cells = split(line);
  bool have_t = false;
  for (size_t c = 0; c < cells.size(); ++c) {
    if (cells[c] == "t_s") {
      layout_.push_back(-1);
      have_t = true;
      continue;
    }
    const Known* k = std::find_if(std::begin(kColumns), std::end(kColumns),
                                  [&](const Known& k) { return cells[c] == k.name; });
    if (k == std::end(kColumns) || has(k->quantity)) {
      return errorf(Error::kFormatInvalid,
                    "%s: line 1, column %zu: %s column '%.*s' (the columns are %s)", name.c_str(),
                    c + 1, k == std::end(kColumns) ? "unknown" : "repeated", int(cells[c].size()),
                    cells[c].data(), kKnownList);
    }
    layout_.push_back(int(columns_.size()));
    columns_.push_back({k->quantity, k->name, {}});
  }
  if (!have_t)
    return errorf(Error::kFormatInvalid,
                  "%s: line 1: no t_s column; the header must name t_s and the columns (%s)",
                  name.c_str(), kKnownList);
  return true;
}

Result<bool> Trace::parse_row(std::string_view line, int line_no, const std::string& name) {
  std::vector<std::string_view> cells = split(line);
  if (cells.size() != layout_.size()) {
    return errorf(Error::kFormatInvalid, "%s: line %d: %zu cells, the header names %zu columns",
                  name.c_str(), line_no, cells.size(), layout_.size());
  }
  double t = 0;
  for (size_t c = 0; c < cells.size(); ++c) {
    if (layout_[c] == -1) {
      auto v = number(cells[c]);
      if (!v)
        return errorf(Error::kFormatInvalid,
                      "%s: line %d, column %zu (t_s): '%.*s' is not a number of seconds",
                      name.c_str(), line_no, c + 1, int(cells[c].size()), cells[c].data());
      if (rows_ > 0 && *v <= end_s_)
        return errorf(Error::kFormatInvalid,
                      "%s: line %d, column %zu (t_s): %g does not come after the previous row's %g",
                      name.c_str(), line_no, c + 1, *v, end_s_);
      t = *v;
    }
  }
  for (size_t c = 0; c < cells.size(); ++c) {
    if (layout_[c] < 0 || cells[c].empty()) continue;  // an empty cell: unknown at this row
    Column& col = columns_[size_t(layout_[c])];
    auto v = number(cells[c]);
    if (!v)
      return errorf(Error::kFormatInvalid, "%s: line %d, column %zu (%s): '%.*s' is not a number",
                    name.c_str(), line_no, c + 1, col.name, int(cells[c].size()), cells[c].data());
    col.points.emplace_back(t, *v);
  }
  if (rows_ == 0) start_s_ = t;
  end_s_ = t;
  ++rows_;
  return true;
}

Result<Trace> Trace::parse(std::string_view text, const std::string& name) {
  Trace tr;
  bool header = false;
  int line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    if (!header) {
      AIRT_TRY(tr.parse_header(line, name));
      header = true;
    } else {
      AIRT_TRY(tr.parse_row(line, line_no, name));
    }
  }
  if (!header)
    return errorf(Error::kFormatInvalid,
                  "%s: empty; a trace starts with a header line such as t_s,temp_c,cpu_mhz",
                  name.c_str());
  if (tr.rows_ == 0) return errorf(Error::kFormatInvalid, "%s: a header but no rows", name.c_str());
  if (tr.has(Quantity::kCpuFreq) && !tr.has(Quantity::kCpuMaxFreq)) {
    const Column* f = tr.column(Quantity::kCpuFreq);
    double mx = 0;
    for (const auto& p : f->points) mx = std::max(mx, p.second);
    tr.columns_.push_back({Quantity::kCpuMaxFreq, "cpu_max_mhz", {{tr.start_s_, mx}}});
  }
  return tr;
}

Result<Trace> Trace::load(const std::string& path) {
  std::string text = AIRT_TRY(read_file(path));
  return parse(text, path);
}

const Trace::Column* Trace::column(Quantity q) const {
  for (const Column& c : columns_) {
    if (c.quantity == q) return &c;
  }
  return nullptr;
}

bool Trace::has(Quantity q) const { return column(q) != nullptr; }

std::optional<double> Trace::at(Quantity q, double t_s) const {
  const Column* c = column(q);
  if (!c || c->points.empty()) return std::nullopt;
  const auto& p = c->points;
  if (t_s <= p.front().first) return p.front().second;
  if (t_s >= p.back().first) return p.back().second;
  auto hi = std::upper_bound(p.begin(), p.end(), t_s,
                             [](double t, const auto& e) { return t < e.first; });
  auto lo = hi - 1;
  const double f = (t_s - lo->first) / (hi->first - lo->first);
  return lo->second + f * (hi->second - lo->second);
}

size_t ReplaySource::read(double t_s, std::span<Sample> out) {
  size_t n = 0;
  for (const Known& k : kColumns) {
    if (n == out.size()) break;
    if (auto v = trace_.at(k.quantity, t_s)) out[n++] = {t_s, *v, k.unit, "replay", k.quantity};
  }
  return n;
}

}  // namespace airt::governor
