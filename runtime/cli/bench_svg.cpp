#include "runtime/cli/bench_svg.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace airt::cli {
namespace {

constexpr double kWidth = 900, kLeft = 70, kRight = 20, kPanel = 110, kGap = 30;
using Series = std::vector<std::pair<double, double>>;  // (seconds, value)

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string f(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

// One time-series panel at height y: frame, title, value range, and the line (or a note
// that the board has no such sensor).
void panel(std::string& svg, const char* id, const std::string& title, double y, double t_end, const Series& s) {
  const double w = kWidth - kLeft - kRight;
  svg += "<g id=\"" + std::string(id) + "\">\n<rect x=\"" + f(kLeft) + "\" y=\"" + f(y) + "\" width=\"" + f(w) +
         "\" height=\"" + f(kPanel) + "\" fill=\"none\" stroke=\"#999\"/>\n<text x=\"" + f(kLeft) + "\" y=\"" +
         f(y - 6) + "\" font-size=\"12\">" + esc(title) + "</text>\n";
  if (s.empty()) {
    svg += "<text x=\"" + f(kLeft + w / 2) + "\" y=\"" + f(y + kPanel / 2) +
           "\" font-size=\"12\" text-anchor=\"middle\" fill=\"#777\">n/a: no sensor on this board</text>\n</g>\n";
    return;
  }
  double lo = s[0].second, hi = s[0].second;
  for (const auto& p : s) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
  if (hi - lo < 1e-9) lo -= 1, hi += 1;
  svg += "<text x=\"" + f(kLeft - 4) + "\" y=\"" + f(y + 10) + "\" font-size=\"10\" text-anchor=\"end\">" + f(hi) +
         "</text>\n<text x=\"" + f(kLeft - 4) + "\" y=\"" + f(y + kPanel) +
         "\" font-size=\"10\" text-anchor=\"end\">" + f(lo) + "</text>\n<polyline fill=\"none\" stroke=\"#1f77b4\" points=\"";
  for (const auto& p : s) {
    const double x = kLeft + w * (t_end > 0 ? p.first / t_end : 0);
    svg += f(x) + "," + f(y + kPanel - kPanel * (p.second - lo) / (hi - lo)) + " ";
  }
  svg += "\"/>\n</g>\n";
}

// Which row ran when: a band per row, its label in a tooltip and, where it fits, inline.
void operating_point(std::string& svg, double y, double t_end, const std::vector<BenchRow>& rows) {
  const double w = kWidth - kLeft - kRight;
  svg += "<g id=\"operating_point\">\n<text x=\"" + f(kLeft) + "\" y=\"" + f(y - 6) +
         "\" font-size=\"12\">operating point (configuration per row)</text>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const double x0 = kLeft + w * rows[i].t_start_s / t_end, x1 = kLeft + w * rows[i].t_end_s / t_end;
    const std::string label = esc(bench_row_label(rows[i]));
    svg += "<rect x=\"" + f(x0) + "\" y=\"" + f(y) + "\" width=\"" + f(std::max(x1 - x0, 0.5)) + "\" height=\"40\" fill=\"" +
           (i % 2 ? "#ffbb78" : "#aec7e8") + "\"><title>" + label + "</title></rect>\n";
  }
  svg += "</g>\n";
}

// t/s per configuration: one horizontal bar per row.
void configs(std::string& svg, double y, const std::vector<BenchRow>& rows) {
  double hi = 0;
  for (const BenchRow& r : rows) hi = std::max(hi, r.mean);
  const double x0 = 330, w = kWidth - x0 - 90;
  svg += "<g id=\"configs\">\n<text x=\"" + f(kLeft) + "\" y=\"" + f(y - 6) + "\" font-size=\"12\">t/s per configuration</text>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const double yy = y + 18 * double(i), bw = hi > 0 ? w * rows[i].mean / hi : 0;
    svg += "<text x=\"" + f(x0 - 6) + "\" y=\"" + f(yy + 12) + "\" font-size=\"10\" text-anchor=\"end\">" +
           esc(bench_row_label(rows[i])) + "</text>\n<rect x=\"" + f(x0) + "\" y=\"" + f(yy + 2) + "\" width=\"" +
           f(bw) + "\" height=\"13\" fill=\"#2ca02c\"/>\n<text x=\"" + f(x0 + bw + 4) + "\" y=\"" + f(yy + 12) +
           "\" font-size=\"10\">" + f(rows[i].mean) + "</text>\n";
  }
  svg += "</g>\n";
}

}  // namespace

std::string bench_row_label(const BenchRow& r) {
  std::string s;
  const auto axes = bench_axes();
  for (size_t a = 0; a < axes.size() && a < r.job.values.size(); ++a)
    s += std::string(axes[a].header) + "=" + r.job.values[a] + " ";
  return s + r.job.test.name();
}

std::string bench_svg(const BenchInfo& info, const std::vector<BenchRow>& rows, const std::vector<BoardSample>& samples) {
  double t_end = 1e-3;
  for (const BoardSample& s : samples) t_end = std::max(t_end, s.t_s);
  for (const BenchRow& r : rows) t_end = std::max(t_end, r.t_end_s);
  Series temp, mhz, watts, ts;
  for (const BoardSample& s : samples) {
    if (s.celsius) temp.emplace_back(s.t_s, *s.celsius);
    if (s.mhz) mhz.emplace_back(s.t_s, *s.mhz);
    if (s.watts) watts.emplace_back(s.t_s, *s.watts);
  }
  for (const BenchRow& r : rows) ts.insert(ts.end(), r.rep_ends.begin(), r.rep_ends.end());
  const double configs_y = 30 + 4 * (kPanel + kGap) + 40 + kGap + 20;
  const double height = configs_y + 18 * double(rows.size()) + 20;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    f(kWidth) + "\" height=\"" + f(height) + "\" font-family=\"sans-serif\">\n<title>airt bench: " +
                    esc(info.model) + "</title>\n";
  double y = 30;
  panel(svg, "temperature", "temperature (°C, hottest zone)", y, t_end, temp);
  panel(svg, "frequency", "CPU frequency (MHz, fastest core)", y += kPanel + kGap, t_end, mhz);
  panel(svg, "power", "power (W)", y += kPanel + kGap, t_end, watts);
  panel(svg, "tokens_per_s", "tokens/s per repetition (x: seconds, 0 .. " + f(t_end) + ")", y += kPanel + kGap, t_end, ts);
  operating_point(svg, y += kPanel + kGap, t_end, rows);
  configs(svg, configs_y, rows);
  return svg + "</svg>\n";
}

Status write_bench_svg(const std::string& path, const BenchInfo& info, const std::vector<BenchRow>& rows,
                       const std::vector<BoardSample>& samples) {
  const std::string svg = bench_svg(info, rows, samples);
  FILE* out = std::fopen(path.c_str(), "w");
  if (!out) return errorf(Error::kIoWrite, "--plot %s: %s; give a path in a writable directory", path.c_str(), std::strerror(errno));
  const bool ok = std::fwrite(svg.data(), 1, svg.size(), out) == svg.size();
  if (std::fclose(out) != 0 || !ok) return errorf(Error::kIoWrite, "--plot %s: the write failed (disk full?)", path.c_str());
  return {};
}

}  // namespace airt::cli
