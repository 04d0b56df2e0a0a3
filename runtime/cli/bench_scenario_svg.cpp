// --plot for the scenarios: a hand-written SVG. The trace's panels (temperature and
// frequency, or memory) come from the first policy's run; then, per policy, the operating
// point, the step latency (with its emulated pause) and a red tick per deadline missed.
#include <algorithm>
#include <cstdio>
#include <functional>

#include "runtime/cli/bench_scenario.h"

namespace airt::cli {
namespace {

constexpr double kWidth = 900, kLeft = 150, kRight = 20, kPanel = 70, kGap = 26;

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}

struct Plot {
  std::string svg;
  double y = 30, t_end = 1;
  double x(double t) const { return kLeft + (kWidth - kLeft - kRight) * std::min(t / t_end, 1.0); }

  // A panel with a polyline of value(sample) over time; `step` draws it as a staircase.
  void line(const std::string& id, const std::string& cls, const std::string& title, const PolicyResult& r,
            const std::function<double(const ScenarioSample&)>& value, bool step) {
    double lo = 1e300, hi = -1e300;
    for (const ScenarioSample& s : r.samples) lo = std::min(lo, value(s)), hi = std::max(hi, value(s));
    if (r.samples.empty()) lo = 0, hi = 1;
    if (hi - lo < 1e-9) lo -= 1, hi += 1;
    frame(id, cls, title, num(lo), num(hi));
    svg += "<polyline fill=\"none\" stroke=\"#1f77b4\" points=\"";
    double prev = -1;
    for (const ScenarioSample& s : r.samples) {
      const double py = y + kPanel - kPanel * (value(s) - lo) / (hi - lo);
      if (step && prev >= 0) svg += num(x(s.t_s)) + "," + num(prev) + " ";
      svg += num(x(s.t_s)) + "," + num(py) + " ";
      prev = py;
    }
    svg += "\"/>\n</g>\n";
    y += kPanel + kGap;
  }
  void frame(const std::string& id, const std::string& cls, const std::string& title, const std::string& lo,
             const std::string& hi) {
    svg += "<g id=\"" + id + "\" class=\"" + cls + "\">\n<rect x=\"" + num(kLeft) + "\" y=\"" + num(y) +
           "\" width=\"" + num(kWidth - kLeft - kRight) + "\" height=\"" + num(kPanel) +
           "\" fill=\"none\" stroke=\"#999\"/>\n<text x=\"" + num(kLeft) + "\" y=\"" + num(y - 5) +
           "\" font-size=\"12\">" + esc(title) + "</text>\n<text x=\"" + num(kLeft - 4) + "\" y=\"" + num(y + 10) +
           "\" font-size=\"10\" text-anchor=\"end\">" + esc(hi) + "</text>\n<text x=\"" + num(kLeft - 4) +
           "\" y=\"" + num(y + kPanel) + "\" font-size=\"10\" text-anchor=\"end\">" + esc(lo) + "</text>\n";
  }
  void misses(const std::string& id, const PolicyResult& r) {
    svg += "<g id=\"" + id + "\" class=\"deadline_misses\">\n<text x=\"" + num(kLeft - 4) + "\" y=\"" +
           num(y + 10) + "\" font-size=\"10\" text-anchor=\"end\">" + std::to_string(r.missed) +
           " missed</text>\n";
    for (float t : r.misses_s)
      svg += "<line x1=\"" + num(x(t)) + "\" x2=\"" + num(x(t)) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y + 14) +
             "\" stroke=\"#d62728\"/>\n";
    svg += "</g>\n";
    y += 14 + kGap;
  }
};

}  // namespace

std::string scenario_svg(const std::string& scenario, const std::vector<PolicyResult>& rows,
                         const governor::Space& space) {
  Plot p;
  for (const PolicyResult& r : rows) p.t_end = std::max(p.t_end, r.duration_s);
  std::string body;
  p.svg.swap(body);
  if (!rows.empty() && scenario == "memory") {
    p.line("memory", "memory", "MemAvailable (MB, replayed)", rows[0], [](const ScenarioSample& s) { return s.mem_mb; },
           false);
  } else if (!rows.empty()) {
    p.line("temperature", "temperature", "temperature (C, replayed)", rows[0],
           [](const ScenarioSample& s) { return s.temp_c; }, false);
    p.line("frequency", "frequency", "CPU clock (MHz, emulated by a duty-cycle pause)", rows[0],
           [](const ScenarioSample& s) { return s.mhz; }, false);
  }
  for (size_t k = 0; k < rows.size(); ++k) {
    const PolicyResult& r = rows[k];
    const std::string n = std::to_string(k);
    std::string names;
    for (size_t i = 0; i < space.size(); ++i) names += (i ? ", " : "") + std::to_string(i) + " " + space.describe(i);
    p.line("operating_point_" + n, "operating_point", r.policy + ": operating point (" + names + ")", r,
           [](const ScenarioSample& s) { return s.point; }, true);
    p.line("latency_" + n, "latency", r.policy + ": step ms (with the pause)", r,
           [](const ScenarioSample& s) { return s.step_ms; }, false);
    p.misses("deadline_misses_" + n, r);
  }
  std::string head = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" +
                     num(p.y + 20) + "\" font-family=\"sans-serif\">\n<text x=\"" + num(kLeft) +
                     "\" y=\"16\" font-size=\"14\">airt bench --scenario " + esc(scenario) + " (time axis 0-" +
                     num(p.t_end) + " s)</text>\n";
  return head + p.svg + "</svg>\n";
}

}  // namespace airt::cli
