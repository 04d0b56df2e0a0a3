// Result<T> and Error: how every fallible call in airt reports failure.
//
// An error carries a code (grouped in ranges, so callers can branch on the kind of
// failure) and a message that names the thing and the fix. Messages are built with
// errorf() at the boundary where the failure is detected; hot loops never fail.
#pragma once

#include <cstdarg>
#include <new>
#include <string>
#include <utility>

namespace airt {

enum class Error : int {
  kOk = 0,
  // I/O
  kIoNotFound = 100,
  kIoPermission,
  kIoRead,
  kIoWrite,
  kIoMap,
  // File and data formats
  kFormatBadMagic = 200,
  kFormatBadVersion,
  kFormatTruncated,
  kFormatInvalid,
  kFormatUnsupported,
  // Memory and other finite resources
  kResourceOutOfMemory = 300,
  kResourceOverBudget,
  kResourceExhausted,
  // Caller or user input
  kRequestInvalid = 400,
  kRequestTooLarge,
  kRequestOutOfRange,
  kRequestCancelled,
  // Backends (CPU ISA, GPU)
  kBackendUnsupported = 500,
  kBackendFailure,
  kBackendDeviceLost,  // the device stopped answering (VK_ERROR_DEVICE_LOST): its memory is gone
  kInternal = 900,
};

// A short stable name ("format_invalid") for logs and protocol replies.
const char* error_name(Error e);

struct ErrorInfo {
  Error code = Error::kInternal;
  std::string message;
};

// Builds an ErrorInfo with a printf-style message.
ErrorInfo errorf(Error code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
ErrorInfo verrorf(Error code, const char* fmt, va_list ap);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : ok_(true) { new (&value_) T(std::move(value)); }  // NOLINT: implicit by design
  Result(ErrorInfo error) : ok_(false) { new (&error_) ErrorInfo(std::move(error)); }  // NOLINT
  Result(const Result& o) : ok_(o.ok_) {
    if (ok_) new (&value_) T(o.value_);
    else new (&error_) ErrorInfo(o.error_);
  }
  Result(Result&& o) noexcept : ok_(o.ok_) {
    if (ok_) new (&value_) T(std::move(o.value_));
    else new (&error_) ErrorInfo(std::move(o.error_));
  }
  Result& operator=(Result o) noexcept {
    destroy();
    ok_ = o.ok_;
    if (ok_) new (&value_) T(std::move(o.value_));
    else new (&error_) ErrorInfo(std::move(o.error_));
    return *this;
  }
  ~Result() { destroy(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T& operator*() { return value_; }
  const ErrorInfo& error() const& { return error_; }
  ErrorInfo&& error() && { return std::move(error_); }

 private:
  void destroy() {
    if (ok_) value_.~T();
    else error_.~ErrorInfo();
  }
  bool ok_;
  union {
    T value_;
    ErrorInfo error_;
  };
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(ErrorInfo error) : ok_(false), error_(std::move(error)) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const {}
  const ErrorInfo& error() const& { return error_; }
  ErrorInfo&& error() && { return std::move(error_); }

 private:
  bool ok_ = true;
  ErrorInfo error_;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace airt

// Evaluates a Result-returning expression; on error returns the error from the
// enclosing function, otherwise yields the value (GNU statement expression, which
// both GCC and Clang support).
#define AIRT_TRY(expr)                                         \
  ({                                                           \
    auto airt_try_result_ = (expr);                            \
    if (!airt_try_result_.ok()) return std::move(airt_try_result_).error(); \
    std::move(airt_try_result_).value();                       \
  })

#ifdef NDEBUG
#define AIRT_DCHECK(cond) ((void)0)
#else
#include <cstdio>
#include <cstdlib>
#define AIRT_DCHECK(cond)                                                              \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: AIRT_DCHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
#endif
