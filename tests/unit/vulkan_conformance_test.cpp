// Every op and type the Vulkan layer has, on the device there is (lavapipe in CI), against
// the reference CPU kernels through the conformance harness: once with the device's
// optional features on, once with fp16, integer dot products and subgroups masked off (the
// portable shader builds a device like the Raspberry Pi 5's runs), and once with only fp16
// masked for the ops that have _f16 builds (their f32 path, under the f32 bound). Without a
// Vulkan device every test skips with "no Vulkan device".
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
constexpr Mode kModes[] = {{"device", hal::vk::kFeatureAll},
                           {"nofp16", hal::vk::kFeatureAll & ~hal::vk::kFeatureFp16},
                           {"portable", 0}};

// The ops whose _f16 builds multiply in f16 (hal/vulkan/shaders/common.glsl): f16 weights'
// products and attention over f16 K/V.
bool has_fp16_build(const OpType& ot) {
  return ot.type == hal::DType::kF16 && (ot.op == hal::Op::kMatmul || ot.op == hal::Op::kAttention);
}

// The _f16 builds' bound. f16 rounds to nearest with unit roundoff u = 2^-11: each product
// rounds once (relative variance u^2/3) and each of a run's kRun - 1 = 7 f16 additions
// rounds a partial sum of j terms (variance j u^2/3 per term), so a run of 8 averages
// (1 + 35/8) u^2 / 3 ~ 1.8 u^2 of NMSE; attention's weights rounded to f16 add u^2/3.
// 8 u^2 (1.9e-6) leaves a margin of four over that; the runs' sums are added in f32, so
// the bound does not grow with k. Everything else keeps the harness's f32 bound.
constexpr double kFp16Bound = 8.0 / (2048.0 * 2048.0);

double bound_for(VulkanOpBackend& b, const OpType& ot, double harness_bound) {
  return has_fp16_build(ot) && b.context().has(hal::vk::kFeatureFp16) ? kFp16Bound : harness_bound;
}

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
      if (hal::vk::Ops::supports(ot.op, ot.type) && (m.mask != kModes[1].mask || has_fp16_build(ot)))
        v.push_back({m, ot});
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
  EXPECT_EQ(b->context().features() & ~p.mode.mask, 0u);
  for (const Case& c : cases(p.ot.op, p.ot.type)) {
    const Outcome o = run_case(*b, *reference(), c);
    const double bound = bound_for(*b, p.ot, o.bound);
    if (o.bound == 0) {
      ADD_FAILURE() << b->name() << ": " << o.message;  // the op failed to run
      continue;
    }
    EXPECT_LE(o.nmse, bound) << b->name() << ": " << c.name() << ": NMSE " << o.nmse << " over the bound " << bound;
    if (std::getenv("AIRT_CONFORMANCE_VERBOSE"))
      std::printf("%-50s nmse %.3g (bound %.3g)\n", c.name().c_str(), o.nmse, bound);
  }
}

INSTANTIATE_TEST_SUITE_P(Vulkan, VulkanOps, ::testing::ValuesIn(params()), param_name);

}  // namespace
}  // namespace airt::conformance

#else

TEST(VulkanOps, NotBuilt) { GTEST_SKIP() << "no Vulkan device (this build has AIRT_HAVE_VULKAN=0)"; }

#endif
