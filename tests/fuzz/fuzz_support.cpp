#include "tests/fuzz/fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace airt::fuzz {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  __builtin_trap();
}

void write_seed(std::string_view name, std::string_view bytes) {
  const char* dir = std::getenv("AIRT_FUZZ_SEED_OUT");
  if (!dir || !*dir) return;
  const std::string path = std::string(dir) + "/" + std::string(name);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::fprintf(stderr, "fuzz: cannot write seed %s\n", path.c_str());
    return;
  }
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

std::string make_temp_dir(const char* tag) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/airt-" + tag + "-XXXXXX";
  if (!mkdtemp(pattern.data())) {
    std::perror("fuzz: mkdtemp");
    std::abort();  // the harness itself cannot run; not an input's fault
  }
  return pattern;
}

}  // namespace airt::fuzz
