// The service's Generator implemented over engine::Engine: what `airt serve` runs.
// Loads the model, its tokenizer and chat template, checks the memory plan against the
// budget, and maps requests, callbacks and errors between the two interfaces.
#pragma once

#include <memory>

#include "runtime/core/result.h"
#include "runtime/service/config.h"
#include "runtime/service/generator.h"

namespace airt::service {

// A GeneratorFactory for serve_main().
Result<std::unique_ptr<Generator>> make_engine_generator(const ServiceConfig& config);

// "kitchen-chat" -> "<state_dir>/kitchen-chat.session"; names are 1..64 of
// [A-Za-z0-9._-] and do not start with '.', anything else is kRequestInvalid.
Result<std::string> session_file(const std::string& state_dir, std::string_view name);

}  // namespace airt::service
