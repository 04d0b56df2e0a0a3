#include "runtime/cli/bench_sweep.h"

#include <cstdlib>

#include "hal/cpu/thread_pool.h"

namespace airt::cli {
namespace {

Result<int32_t> int_item(const char* what, const std::string& item, long lo, long hi) {
  char* end = nullptr;
  const long v = std::strtol(item.c_str(), &end, 10);
  if (item.empty() || *end || v < lo || v > hi)
    return errorf(Error::kRequestOutOfRange, "%s '%s': expected a whole number in %ld..%ld", what, item.c_str(), lo, hi);
  return int32_t(v);
}

Status apply_threads(const std::string& item, BenchSetup& s) {
  s.threads = AIRT_TRY(int_item("-t", item, 1, 1024));
  return {};
}
Status apply_kv(const std::string& item, BenchSetup& s) {
  auto t = model::kv_types_parse(item);
  if (!t.ok()) return errorf(Error::kRequestInvalid, "--kv-type '%s': %s", item.c_str(), t.error().message.c_str());
  s.kv = *t;
  return {};
}
Status apply_window(const std::string& item, BenchSetup& s) {
  s.window = AIRT_TRY(int_item("--window", item, 0, 1 << 30));
  return {};
}
Status apply_slots(const std::string& item, BenchSetup& s) {
  s.n_slots = AIRT_TRY(int_item("--slots", item, 1, 256));
  return {};
}
Status apply_depth(const std::string& item, BenchSetup& s) {
  s.depth = AIRT_TRY(int_item("-d", item, 0, 1 << 20));
  return {};
}

Status apply_tier(const std::string& item, BenchSetup& s) {
  s.tier = item;  // checked against the ladder when the engine is made
  return {};
}
Status apply_draft_len(const std::string& item, BenchSetup& s) {
  s.draft_len = item == "auto" ? -1 : AIRT_TRY(int_item("--draft-len", item, 0, 64));
  return {};
}

std::string auto_len() { return "auto"; }
std::string threads_default() { return std::to_string(hal::physical_cores()); }
std::string f16() { return "f16"; }
std::string zero() { return "0"; }
std::string one() { return "1"; }

// Outermost first, as llama-bench nests its loops (cache types, threads, depth).
constexpr BenchAxis kBenchAxes[] = {
    {"--ladder-tier", nullptr, "ladder_tier", "tier", false, false, zero, apply_tier},
    {"--kv-type", nullptr, "kv_type", "kv", false, false, f16, apply_kv},
    {"--window", nullptr, "window", "window", true, false, zero, apply_window},
    {"--slots", nullptr, "n_slots", "slots", true, true, one, apply_slots},
    {"--draft-len", nullptr, "draft_len", "draft", false, true, auto_len, apply_draft_len},
    {"--threads", "-t", "n_threads", "threads", true, false, threads_default, apply_threads},
    {"--n-depth", "-d", "n_depth", "depth", true, false, zero, apply_depth},
};

}  // namespace

std::span<const BenchAxis> bench_axes() { return kBenchAxes; }

std::string BenchTest::name() const {
  if (n_gen == 0) return "pp" + std::to_string(n_prompt);
  if (n_prompt == 0) return "tg" + std::to_string(n_gen);
  return "pp" + std::to_string(n_prompt) + "+tg" + std::to_string(n_gen);
}

Result<std::vector<std::string>> bench_split_list(const char* flag, const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (true) {
    const size_t comma = text.find(',', at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (item.empty()) return errorf(Error::kRequestInvalid, "%s '%s': an empty item; expected a list like 1,2,4", flag, text.c_str());
    if (item.rfind("v=", 0) == 0 && !out.empty() && out.back().rfind("k=", 0) == 0 &&
        out.back().find(",v=") == std::string::npos) {
      out.back() += "," + item;
    } else {
      out.push_back(std::move(item));
    }
    if (comma == std::string::npos) return out;
    at = comma + 1;
  }
}

Status bench_check_lists(const std::vector<std::vector<std::string>>& lists) {
  const auto axes = bench_axes();
  for (size_t a = 0; a < axes.size(); ++a) {
    BenchSetup s;
    for (const std::string& v : lists[a]) AIRT_TRY(axes[a].apply(v, s));
  }
  return {};
}

std::vector<BenchJob> bench_expand(const std::vector<std::vector<std::string>>& lists,
                                   const std::vector<BenchTest>& tests) {
  const auto axes = bench_axes();
  std::vector<BenchJob> jobs;
  std::vector<size_t> at(axes.size(), 0);  // an odometer, last axis fastest
  while (true) {
    for (const BenchTest& t : tests) {
      bool first_of_decode_axes = true;
      for (size_t a = 0; a < axes.size(); ++a) first_of_decode_axes &= !axes[a].decode_only || at[a] == 0;
      if (t.n_prompt > 0 && !first_of_decode_axes) continue;  // pp and pg run on one sequence
      BenchJob j{{}, t};
      for (size_t a = 0; a < axes.size(); ++a)  // a pp row says it ran on one sequence
        j.values.push_back(t.n_prompt > 0 && axes[a].decode_only ? axes[a].fallback() : lists[a][at[a]]);
      jobs.push_back(std::move(j));
    }
    size_t a = axes.size();
    while (a > 0 && ++at[a - 1] == lists[a - 1].size()) at[--a] = 0;
    if (a == 0) return jobs;
  }
}

BenchSetup bench_setup(const BenchJob& job) {
  BenchSetup s;
  const auto axes = bench_axes();
  for (size_t a = 0; a < axes.size(); ++a) (void)axes[a].apply(job.values[a], s);
  return s;
}

}  // namespace airt::cli
