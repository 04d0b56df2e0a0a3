// airt info: what this board is and what airt will use on it — CPU, cores, caches,
// memory, the CPU features detected and the kernel table chosen; optionally the memory
// read bandwidth (the ceiling for generation speed: every token reads all weights); each
// Vulkan device and whether `--backend auto` would consider it.
#include <algorithm>
#include <cstdio>
#include <string>

#include "hal/cpu/features.h"
#include "hal/cpu/kernels.h"
#include "hal/cpu/system_info.h"
#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/memory_plan.h"
#if AIRT_HAVE_VULKAN
#include "hal/vulkan/bandwidth.h"
#include "hal/vulkan/context.h"
#include "hal/vulkan/device.h"
#endif

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt info [-o text|json] [--bandwidth] [--bw-mib N] [-t N]\n"
    "  -o FORMAT     text (default) or json\n"
    "  --bandwidth   also measure memory read bandwidth (streams --bw-mib MiB, default 1024)\n"
    "                and each Vulkan device's copy bandwidth (a shader copying up to 256 MiB)\n"
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

#if AIRT_HAVE_VULKAN
std::string heaps_text(const hal::vk::DeviceInfo& d) {
  std::string s;
  for (const auto& h : d.heaps) {
    if (!s.empty()) s += ", ";
    s += format_bytes(h.bytes);
    if (h.device_local) s += h.host_visible ? " device-local+host-visible" : " device-local";
    else s += " host";
  }
  return s;
}

// Device `index`'s copy bandwidth in GB/s (read + written), else why not in `why`; the
// MiB copied in `mib`.
double vulkan_bandwidth_gbs(int index, int bw_mib, std::string& why, int* mib = nullptr) {
  auto ctx = hal::vk::Context::create(index);
  if (!ctx.ok()) return why = ctx.error().message, 0.0;
  auto bw = hal::vk::measure_copy_bandwidth(**ctx, uint64_t(std::min(bw_mib, 256)) << 20);
  if (!bw.ok()) return why = bw.error().message, 0.0;
  if (mib) *mib = int(bw->bytes >> 20);
  return bw->bytes_per_s / 1e9;
}

// bw_mib > 0: each device's copy bandwidth too.
void print_vulkan_text(int bw_mib) {
  auto devs = hal::vk::enumerate_devices();
  if (!devs.ok()) return (void)std::printf("vulkan:    %s\n", devs.error().message.c_str());
  if (devs->empty()) return (void)std::printf("vulkan:    no Vulkan device\n");
  for (const auto& d : *devs) {
    const std::string skip = hal::vk::auto_skip_reason(d);
    std::printf("vulkan %d:  %s (%s; %s %s; Vulkan %s)\n", d.index, d.name.c_str(), hal::vk::device_type_name(d.type),
                d.driver_name.c_str(), d.driver_info.c_str(), d.api_version_name().c_str());
    std::printf("           heaps %s%s\n", heaps_text(d).c_str(), d.unified_memory ? " (unified memory)" : "");
    std::printf("           subgroup %u%s, fp16 %s, int8 dot %s%s, shared memory %s\n", d.subgroup_size,
                d.subgroup_arithmetic ? " (arithmetic)" : "", d.fp16 ? "yes" : "no", d.int_dot ? "yes" : "no",
                d.int_dot_accelerated ? " (accelerated)" : "", format_bytes(d.max_shared_memory).c_str());
    const bool can_import = d.features() & hal::vk::kFeatureHostImport;
    std::printf("           host import %s\n", can_import       ? "yes (weights mapped, no copy)"
                                            : d.host_import ? "no (discrete: weights copied)"
                                                            : "no (weights copied)");
    std::printf("           %s\n", skip.empty() ? "a candidate for --backend auto" : skip.c_str());
    if (bw_mib <= 0) continue;
    std::string why;
    int mib = 0;
    const double gbs = vulkan_bandwidth_gbs(d.index, bw_mib, why, &mib);
    if (why.empty()) std::printf("vulkan %d bandwidth: %.2f GB/s copy (read + write, %d MiB)\n", d.index, gbs, mib);
    else std::printf("vulkan %d bandwidth: not measured: %s\n", d.index, why.c_str());
  }
}

void print_vulkan_json(int bw_mib) {
  auto devs = hal::vk::enumerate_devices();
  std::printf(",\n  \"vulkan\": [");
  if (!devs.ok()) return (void)std::printf("],\n  \"vulkan_error\": \"%s\"", json_escape(devs.error().message).c_str());
  for (size_t i = 0; i < devs->size(); ++i) {
    const auto& d = (*devs)[i];
    std::printf("%s\n    {\"index\": %d, \"name\": \"%s\", \"type\": \"%s\", \"driver\": \"%s\", \"driver_info\": \"%s\", "
                "\"api\": \"%s\",", i ? "," : "", d.index, json_escape(d.name).c_str(), hal::vk::device_type_name(d.type),
                json_escape(d.driver_name).c_str(), json_escape(d.driver_info).c_str(), d.api_version_name().c_str());
    std::printf(" \"heaps\": [");
    for (size_t h = 0; h < d.heaps.size(); ++h)
      std::printf("%s{\"bytes\": %llu, \"device_local\": %s, \"host_visible\": %s}", h ? ", " : "",
                  static_cast<unsigned long long>(d.heaps[h].bytes), d.heaps[h].device_local ? "true" : "false",
                  d.heaps[h].host_visible ? "true" : "false");
    std::printf("], \"unified_memory\": %s, \"subgroup_size\": %u, \"fp16\": %s, \"int8_dot\": %s, "
                "\"shared_memory\": %u, \"host_import\": %s, \"auto_skip\": \"%s\"",
                d.unified_memory ? "true" : "false", d.subgroup_size, d.fp16 ? "true" : "false",
                d.int_dot ? "true" : "false", d.max_shared_memory,
                (d.features() & hal::vk::kFeatureHostImport) ? "true" : "false",
                json_escape(hal::vk::auto_skip_reason(d)).c_str());
    if (bw_mib > 0) {
      std::string why;
      const double gbs = vulkan_bandwidth_gbs(d.index, bw_mib, why);
      std::printf(why.empty() ? ", \"copy_bandwidth_gbs\": %.2f}" : ", \"copy_bandwidth_gbs\": null}", gbs);
    } else {
      std::printf("}");
    }
  }
  std::printf("%s]", devs->empty() ? "" : "\n  ");
}
#else
void print_vulkan_text(int) { std::printf("vulkan:    not built (AIRT_VULKAN=OFF or no libvulkan-dev/glslc)\n"); }
void print_vulkan_json(int) { std::printf(",\n  \"vulkan\": []"); }
#endif

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
    print_vulkan_json(bandwidth ? bw_mib : 0);
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
  print_vulkan_text(bandwidth ? bw_mib : 0);
  return 0;
}

}  // namespace airt::cli
