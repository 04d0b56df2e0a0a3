// Every op and type the Vulkan layer has, on the device there is (lavapipe in CI), against
// the reference CPU kernels through the conformance harness: once with the device's
// optional features on, once with fp16, integer dot products and subgroups masked off (the
// portable shader builds a device like the Raspberry Pi 5's runs). Without a Vulkan device
// every test skips with "no Vulkan device".
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "hal/cpu/kernels.h"
#include "hal/op.h"
#include "tests/support/conformance.h"
#include "tests/support/conformance_cpu.h"

#if AIRT_HAVE_VULKAN
#include "tests/support/conformance_vulkan.h"

namespace airt::conformance {
namespace {

struct Mode {
  const char* name;
  hal::vk::Features mask;
};
constexpr Mode kModes[] = {{"device", hal::vk::kFeatureAll}, {"portable", 0}};

struct Param {
  Mode mode;
  OpType ot;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << p.mode.name << " " << hal::op_name(p.ot.op) << " " << hal::dtype_name(p.ot.type);
}

std::vector<Param> params() {
  std::vector<Param> v;
  for (const Mode& m : kModes)
    for (const OpType& ot : op_types())
      if (hal::vk::Ops::supports(ot.op, ot.type)) v.push_back({m, ot});
  return v;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const Param& p = info.param;
  std::string n = std::string(p.mode.name) + "_" + hal::op_name(p.ot.op);
  if (p.ot.op == hal::Op::kMatmul || p.ot.op == hal::Op::kGetRows || p.ot.op == hal::Op::kAttention ||
      p.ot.op == hal::Op::kKvStore)
    n += std::string("_") + hal::dtype_name(p.ot.type);
  return n;
}

// One backend per mode for the whole run (creating a device costs more than most cases).
VulkanOpBackend* backend_for(const Mode& m, std::string* why) {
  static std::map<std::string, std::unique_ptr<VulkanOpBackend>> made;
  if (auto it = made.find(m.name); it != made.end()) return it->second.get();
  auto b = VulkanOpBackend::create(hal::vk::kAnyDevice, m.mask);
  if (!b.ok()) {
    *why = b.error().message;
    return nullptr;
  }
  return (made[m.name] = std::move(*b)).get();
}

OpBackend* reference() {
  static std::unique_ptr<CpuOpBackend> ref = [] {
    auto r = CpuOpBackend::create(hal::kernels_generic(), 1);
    return r.ok() ? std::move(*r) : nullptr;
  }();
  return ref.get();
}

class VulkanOps : public ::testing::TestWithParam<Param> {};

TEST_P(VulkanOps, MatchesReference) {
  const Param& p = GetParam();
  std::string why;
  VulkanOpBackend* b = backend_for(p.mode, &why);
  if (!b) GTEST_SKIP() << why;
  ASSERT_NE(reference(), nullptr);
  if (p.mode.mask == 0) {
    ASSERT_EQ(b->context().features(), 0u);
  }
  for (const Case& c : cases(p.ot.op, p.ot.type)) {
    const Outcome o = run_case(*b, *reference(), c);
    EXPECT_TRUE(o.ok) << b->name() << ": " << o.message;
    if (std::getenv("AIRT_CONFORMANCE_VERBOSE"))
      std::printf("%-50s nmse %.3g (bound %.3g)\n", c.name().c_str(), o.nmse, o.bound);
  }
}

INSTANTIATE_TEST_SUITE_P(Vulkan, VulkanOps, ::testing::ValuesIn(params()), param_name);

}  // namespace
}  // namespace airt::conformance

#else

TEST(VulkanOps, NotBuilt) { GTEST_SKIP() << "no Vulkan device (this build has AIRT_HAVE_VULKAN=0)"; }

#endif
