// The Vulkan device layer in one include: devices, Context, Buffer, Kernel, Recorder, Ops.
// Only compiled when AIRT_HAVE_VULKAN is 1 (cmake/airt_vulkan.cmake).
#pragma once

#include "hal/vulkan/buffer.h"
#include "hal/vulkan/context.h"
#include "hal/vulkan/device.h"
#include "hal/vulkan/kernel.h"
#include "hal/vulkan/ops.h"
#include "hal/vulkan/recorder.h"
#include "hal/vulkan/shaders.h"
