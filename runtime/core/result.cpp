#include "runtime/core/result.h"

#include <cstdio>

namespace airt {

const char* error_name(Error e) {
  switch (e) {
    case Error::kOk: return "ok";
    case Error::kIoNotFound: return "io_not_found";
    case Error::kIoPermission: return "io_permission";
    case Error::kIoRead: return "io_read";
    case Error::kIoWrite: return "io_write";
    case Error::kIoMap: return "io_map";
    case Error::kFormatBadMagic: return "format_bad_magic";
    case Error::kFormatBadVersion: return "format_bad_version";
    case Error::kFormatTruncated: return "format_truncated";
    case Error::kFormatInvalid: return "format_invalid";
    case Error::kFormatUnsupported: return "format_unsupported";
    case Error::kResourceOutOfMemory: return "resource_out_of_memory";
    case Error::kResourceOverBudget: return "resource_over_budget";
    case Error::kResourceExhausted: return "resource_exhausted";
    case Error::kRequestInvalid: return "request_invalid";
    case Error::kRequestTooLarge: return "request_too_large";
    case Error::kRequestOutOfRange: return "request_out_of_range";
    case Error::kRequestCancelled: return "request_cancelled";
    case Error::kBackendUnsupported: return "backend_unsupported";
    case Error::kBackendFailure: return "backend_failure";
    case Error::kBackendDeviceLost: return "backend_device_lost";
    case Error::kInternal: return "internal";
  }
  return "unknown";
}

ErrorInfo verrorf(Error code, const char* fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap2);
  va_end(ap2);
  ErrorInfo info{code, {}};
  if (n > 0) {
    info.message.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(info.message.data(), info.message.size(), fmt, ap);
    info.message.resize(static_cast<size_t>(n));
  }
  return info;
}

ErrorInfo errorf(Error code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ErrorInfo info = verrorf(code, fmt, ap);
  va_end(ap);
  return info;
}

}  // namespace airt
