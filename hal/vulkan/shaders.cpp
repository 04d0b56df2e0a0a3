#include "hal/vulkan/shaders.h"

namespace airt::hal::vk {

const EmbeddedShader* find_shader(std::string_view name) {
  for (const EmbeddedShader& s : embedded_shaders())
    if (name == s.name) return &s;
  return nullptr;
}

std::string shader_names() {
  std::string out;
  for (const EmbeddedShader& s : embedded_shaders()) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

}  // namespace airt::hal::vk
