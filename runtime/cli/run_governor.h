// `airt run --governor`: the governor in the loop of a command-line run, with its events
// printed to stderr as they happen (-v) and the operating point at the end.
#pragma once

#include <memory>
#include <string>

#include "runtime/core/args.h"
#include "runtime/core/result.h"
#include "runtime/engine/governed.h"

namespace airt::cli {

struct RunGovernorOptions {
  bool enabled = false;
  std::string trace;             // --governor-trace: replay this CSV instead of the sensors
  std::string sysfs_root = "/";  // --sysfs-root: where the live sensors are read
  std::string config;            // --governor-config: limits and perplexities (governor/config.h)
  std::string state_dir;         // where tier perplexities are cached when the model's folder is not writable
  std::string profile;           // --governor-profile: latency profile; empty: airt bench --calibrate's default, if there
  bool verbose = false;          // -v: every event as it happens

  static constexpr const char* kHelp =
      "Governor (operating point chosen by temperature, power, memory and deadlines):\n"
      "  --governor            run under the governor (tiers of --ladder, KV f16/q8_0); it starts at\n"
      "                        the best point and then chooses the tier itself (overriding --tier)\n"
      "  --governor-trace T    replay the sensor trace T.csv (t_s,temp_c,power_w,mem_avail_mb,cpu_mhz)\n"
      "                        from its start, at wall-clock speed (implies --governor)\n"
      "  --governor-config G   limits and perplexities as JSON (see airt governor explain --help)\n"
      "  --governor-profile P  latency profile from airt bench --calibrate (default: the one it\n"
      "                        writes by default, when there; without one the costs are learned)\n"
      "  --sysfs-root DIR      read the live sensors under DIR instead of /\n"
      "  -v, --verbose         print each governor event to stderr as it happens\n";

  // --governor, --governor-trace, --governor-config, --governor-profile, --sysfs-root, -v/--verbose.
  bool parse(Args& a);
};

// Installs the governor on `e` (idle): the Space from the engine, the tiers' perplexities
// cached where measured (tier_quality.h), the sensors live or replayed.
Result<std::unique_ptr<engine::GovernorLoop>> run_governor_start(engine::Engine& e,
                                                                 const RunGovernorOptions& o);

// "airt: governor: ended at q4_0 kv q8_0 after 3 events" (stderr).
void run_governor_report(const engine::GovernorLoop& g);

}  // namespace airt::cli
