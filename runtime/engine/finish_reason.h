// Why a request ended: the one list the engine, the CLI and the service (its replies'
// finish_reason) share.
#pragma once

#include <cstdint>

namespace airt::engine {

enum class FinishReason : uint8_t { kStop, kLength, kDeadline, kCancelled };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "deadline", "cancelled"

}  // namespace airt::engine
