// airt info: what this board is and what airt will use on it — CPU, cores, caches,
// memory, the CPU features detected and the kernel table chosen; optionally the memory
// read bandwidth (the ceiling for generation speed: every token reads all weights).
#include <cstdio>
#include <string>

#include "hal/cpu/features.h"
#include "hal/cpu/kernels.h"
#include "hal/cpu/system_info.h"
#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/memory_plan.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt info [-o text|json] [--bandwidth] [--bw-mib N] [-t N]\n"
    "  -o FORMAT     text (default) or json\n"
    "  --bandwidth   also measure memory read bandwidth (streams --bw-mib MiB, default 1024)\n"
    "  -t N          threads for the bandwidth measurement (default: physical cores)\n";

std::string cache_name(const hal::CacheInfo& c) {
  std::string n(1, 'L');  // (not "L" + ...: GCC 12 warns falsely on that)
  n += std::to_string(c.level);
  if (c.type == "Data") n += "d";
  if (c.type == "Instruction") n += "i";
  return n;
}

// JSON string contents: the CPU model is the only free text here.
std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    if (static_cast<unsigned char>(ch) >= 0x20) o += ch;
  }
  return o;
}

}  // namespace

int info_main(int argc, char** argv) {
  std::string format = "text";
  bool bandwidth = false;
  int32_t bw_mib = 1024, threads = 0;
  Args a("info", argc, argv);
  while (a.next()) {
    if (a.str("--output", "-o", format)) continue;
    if (a.flag("--bandwidth", bandwidth)) continue;
    if (a.i32("--bw-mib", nullptr, bw_mib, 16, 1 << 20)) continue;
    if (a.i32("--threads", "-t", threads, 1, 1024)) continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && format != "text" && format != "json") a.fail("-o must be text or json");
  if (!a.ok()) return a.usage_error();

  const hal::SystemInfo s = hal::system_info();
  const hal::CpuFeatures& f = hal::cpu_features();
  auto best = hal::kernels_best();
  if (!best.ok()) return report(best.error());
  const int n_threads = threads > 0 ? threads : s.physical_cores;
  double bw = 0;
  if (bandwidth) bw = hal::measure_read_bandwidth(uint64_t(bw_mib) << 20, n_threads, 5);

  if (format == "json") {
    std::printf("{\n  \"arch\": \"%s\",\n  \"cpu_model\": \"%s\",\n  \"logical_cpus\": %d,\n  \"physical_cores\": %d,\n",
                s.arch.c_str(), json_escape(s.cpu_model).c_str(), s.logical_cpus, s.physical_cores);
    std::printf("  \"features\": \"%s\",\n  \"kernels\": \"%s\",\n  \"kernels_available\": \"%s\",\n",
                f.describe().c_str(), (*best)->isa, hal::kernels_available().c_str());
    std::printf("  \"caches\": [");
    for (size_t i = 0; i < s.caches.size(); ++i) {
      const auto& c = s.caches[i];
      std::printf("%s{\"name\": \"%s\", \"bytes\": %llu, \"shared_by\": %d}", i ? ", " : "", cache_name(c).c_str(),
                  static_cast<unsigned long long>(c.bytes), c.shared_by);
    }
    std::printf("],\n  \"mem_total\": %llu,\n  \"mem_available\": %llu,\n  \"cgroup_limit\": %llu,\n",
                static_cast<unsigned long long>(s.mem_total), static_cast<unsigned long long>(s.mem_available),
                static_cast<unsigned long long>(s.cgroup_limit));
    std::printf("  \"default_threads\": %d", s.physical_cores);
    if (bandwidth) std::printf(",\n  \"read_bandwidth_gbs\": %.2f,\n  \"bandwidth_threads\": %d", bw / 1e9, n_threads);
    std::printf("\n}\n");
    return 0;
  }
  std::printf("cpu:       %s (%s)\n", s.cpu_model.empty() ? "unknown" : s.cpu_model.c_str(), s.arch.c_str());
  std::printf("cores:     %d physical, %d logical (default -t %d)\n", s.physical_cores, s.logical_cpus,
              s.physical_cores);
  std::printf("features:  %s\n", f.describe().c_str());
  std::printf("kernels:   %s (available: %s; AIRT_CPU_ISA overrides)\n", (*best)->isa, hal::kernels_available().c_str());
  std::printf("caches:   ");
  for (const auto& c : s.caches) {
    std::printf(" %s %s", cache_name(c).c_str(), format_bytes(c.bytes).c_str());
    if (c.shared_by > 1) std::printf(" (shared by %d)", c.shared_by);
    std::printf(";");
  }
  std::printf("\nmemory:    %s total, %s available", format_bytes(s.mem_total).c_str(),
              format_bytes(s.mem_available).c_str());
  if (s.cgroup_limit) std::printf(", cgroup limit %s", format_bytes(s.cgroup_limit).c_str());
  std::printf("\n");
  if (bandwidth) std::printf("bandwidth: %.2f GB/s read (%d threads, %d MiB)\n", bw / 1e9, n_threads, bw_mib);
  return 0;
}

}  // namespace airt::cli
