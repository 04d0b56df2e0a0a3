// The compute shaders embedded in the binary: hal/vulkan/shaders/NAME.comp compiled by glslc
// at build time (cmake/airt_vulkan.cmake generates the table). Kernels are created from
// these by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace airt::hal::vk {

struct EmbeddedShader {
  const char* name;      // the .comp file's name without extension
  const uint32_t* spirv; // SPIR-V words, static storage
  size_t words;
};

// Every embedded shader, sorted by name.
std::span<const EmbeddedShader> embedded_shaders();

// The shader called `name`, or nullptr.
const EmbeddedShader* find_shader(std::string_view name);

// "add, matvec_f32, ...": for error messages that list what exists.
std::string shader_names();

}  // namespace airt::hal::vk
