// airt bench --calibrate: the latency profile the governor's cost model starts from
// (governor/model/profile.h), measured on this board. For every operating point the
// configuration allows it times a prompt step (ms per prefill row) and decode steps at
// batch sizes 1..slots (a line through them: ms per step and per decode row), notes the
// CPU clock, and adds each tier's perplexity from the ladder's quality cache
// (engine/tier_quality.h) and each window's and KV precision's perplexity ratio,
// measured the same way. The scenarios (bench_scenario.h) run the same measurement
// in-process to seed the governor they drive.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "governor/model/profile.h"
#include "governor/model/space.h"
#include "runtime/cli/common.h"
#include "runtime/core/result.h"
#include "runtime/engine/engine.h"

namespace airt::cli {

struct CalibrateSettings {
  int32_t slots = 2;    // decode is timed at every batch size 1..slots
  int32_t prompt = 32;  // rows of the timed prompt step
  int32_t gen = 12;     // decode steps timed per batch size
};

// The space of points `mo`'s model allows with these lists (tier list empty: every tier
// of the ladder, best first).
struct PointLists {
  std::vector<int32_t> tiers, windows{0}, draft_lens{0}, threads{0};
  std::vector<governor::KvPrecision> kv{governor::KvPrecision{}};
};
Result<governor::Space> bench_space(const model::Model& m, const PointLists& lists, int32_t n_ctx,
                                    int32_t sinks, int32_t max_threads);

// An engine configuration that can run every point of `space` and the timed requests.
engine::EngineConfig bench_calibrate_config(const ModelOptions& mo, const governor::Space& space,
                                            const CalibrateSettings& s);

// Times every point of `space` on `e` (idle, made from bench_calibrate_config); `note`
// gets one line per point. The engine's step hook is taken meanwhile and cleared after;
// its operating point is restored.
Result<governor::Profile> bench_calibrate(engine::Engine& e, const governor::Space& space,
                                          const CalibrateSettings& s,
                                          const std::function<void(const std::string&)>& note);

// Each tier's perplexity on the built-in text: cached beside the model (or in
// `state_dir`), measured on a short-lived engine otherwise.
Result<std::vector<double>> bench_tier_perplexity(const model::Model& m, const text::Tokenizer& tok,
                                                  const ModelOptions& mo, const std::string& state_dir);

// Each window (with the space's sinks) and KV precision of `space` as a perplexity ratio
// against the whole window with F16 KV, on the built-in text and the space's first tier
// (measured now on a short-lived engine; nothing cached), into out.window_ratio and
// out.kv_ratio. A window as wide as the chunks the text is scored in cannot change
// their figure, so it is left out (the governor keeps its placeholder) and `note` says
// so. Whole window and F16 are the reference and not written.
Status bench_quality_ratios(const model::Model& m, const text::Tokenizer& tok, const ModelOptions& mo,
                            const governor::Space& space, governor::Profile& out,
                            const std::function<void(const std::string&)>& note);

// Where a profile goes by default: the directory the service keeps its state in
// (/var/lib/airt) when writable, else $XDG_STATE_HOME/airt or ~/.local/state/airt.
std::string bench_state_dir();
inline constexpr const char* kProfileFile = "latency-profile.json";

// The point lists from their flags' texts ("" leaves a list at its default): comma
// lists of whole numbers, and of KV precisions for `kv`.
Status bench_point_lists(const std::string& windows, const std::string& kv, const std::string& drafts,
                         const std::string& threads, PointLists& out);

bool bench_calibrate_wanted(int argc, char** argv);
int bench_calibrate_main(int argc, char** argv);

}  // namespace airt::cli
