#include "governor/operating_point.h"

namespace airt::governor {

const char* backend_kind_name(BackendKind b) {
  switch (b) {
    case BackendKind::kCpu: return "cpu";
    case BackendKind::kVulkan: return "vulkan";
  }
  return "?";
}

}  // namespace airt::governor
