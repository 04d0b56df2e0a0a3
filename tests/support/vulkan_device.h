// Whether a Vulkan device is there for a test to run on, and the skip that says so. Built
// without Vulkan (AIRT_HAVE_VULKAN undefined) there never is one.
#pragma once

#include <gtest/gtest.h>

#if AIRT_HAVE_VULKAN
#include "hal/vulkan/device.h"
#endif

namespace airt::test {

inline bool have_vulkan_device() {
#if AIRT_HAVE_VULKAN
  auto d = hal::vk::enumerate_devices();
  return d.ok() && !d->empty();
#else
  return false;
#endif
}

}  // namespace airt::test

#define AIRT_REQUIRE_VULKAN()                                                   \
  do {                                                                          \
    if (!::airt::test::have_vulkan_device()) GTEST_SKIP() << "no Vulkan device"; \
  } while (0)
