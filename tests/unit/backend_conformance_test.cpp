// Every kernel table this build has, as a conformance backend, against the reference (the
// generic table on one thread): one test per backend x op x type, each running that pair's
// cases (odd sizes, both matrix paths, both rope pair modes). Tables this CPU cannot run
// are skipped with the reason (e.g. dotprod under qemu -cpu cortex-a72).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <ostream>
#include <memory>
#include <string>
#include <vector>

#include "hal/cpu/kernels.h"
#include "hal/op.h"
#include "tests/support/conformance.h"
#include "tests/support/conformance_cpu.h"

namespace airt::conformance {
namespace {

#if defined(__x86_64__)
const char* const kIsas[] = {"generic", "avx2", "avx512"};
#elif defined(__aarch64__)
const char* const kIsas[] = {"generic", "neon", "dotprod"};
#else
const char* const kIsas[] = {"generic"};
#endif

// Backends are built once per table: a pool of 3 threads so the threaded matrix paths and
// uneven row splits are covered.
constexpr int kThreads = 3;

struct Param {
  const char* isa;
  OpType ot;
};

// What ctest shows after the test name.
void PrintTo(const Param& p, std::ostream* os) {
  *os << p.isa << " " << hal::op_name(p.ot.op) << " " << hal::dtype_name(p.ot.type);
}

std::vector<Param> params() {
  std::vector<Param> v;
  for (const char* isa : kIsas)
    for (const OpType& ot : op_types()) v.push_back({isa, ot});
  return v;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const Param& p = info.param;
  std::string n = std::string(p.isa) + "_" + hal::op_name(p.ot.op);
  if (p.ot.op == hal::Op::kMatmul || p.ot.op == hal::Op::kGetRows ||
      p.ot.op == hal::Op::kAttention || p.ot.op == hal::Op::kKvStore) {
    n += std::string("_") + hal::dtype_name(p.ot.type);
  }
  return n;
}

OpBackend* backend_for(const char* isa, int threads, std::string* why) {
  static std::map<std::string, std::unique_ptr<CpuOpBackend>> made;
  const std::string key = std::string(isa) + "/" + std::to_string(threads);
  if (auto it = made.find(key); it != made.end()) return it->second.get();
  auto k = hal::kernels_select(isa);
  if (!k.ok()) {
    *why = k.error().message;
    return nullptr;
  }
  auto b = CpuOpBackend::create(**k, threads);
  if (!b.ok()) {
    *why = b.error().message;
    return nullptr;
  }
  return (made[key] = std::move(*b)).get();
}

class BackendOps : public ::testing::TestWithParam<Param> {};

TEST_P(BackendOps, MatchesReference) {
  const Param& p = GetParam();
  std::string why;
  OpBackend* b = backend_for(p.isa, kThreads, &why);
  if (!b) GTEST_SKIP() << p.isa << ": " << why;
  OpBackend* ref = backend_for("generic", 1, &why);
  ASSERT_NE(ref, nullptr) << why;
  ASSERT_TRUE(b->supports(p.ot.op, p.ot.type))
      << b->name() << " lacks " << hal::op_name(p.ot.op) << " " << hal::dtype_name(p.ot.type)
      << ": every CPU table holds every op (generic fills what it does not speed up)";
  for (const Case& c : cases(p.ot.op, p.ot.type)) {
    const Outcome o = run_case(*b, *ref, c);
    EXPECT_TRUE(o.ok) << b->name() << ": " << o.message;
    if (std::getenv("AIRT_CONFORMANCE_VERBOSE"))
      std::printf("%-50s nmse %.3g (bound %.3g)\n", c.name().c_str(), o.nmse, o.bound);
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, BackendOps, ::testing::ValuesIn(params()), param_name);

// The harness itself: a wrong result is caught and named. Broken is a deliberately faulty
// backend: its matmul is one element off and its kv_store always fails, so the test below
// can check that the harness reports both a wrong result and a failed call.
class Broken final : public OpBackend {
 public:
  explicit Broken(OpBackend& inner) : inner_(inner) {}
  std::string name() const override { return "broken"; }
  bool supports(hal::Op op, hal::DType t) const override { return inner_.supports(op, t); }
  Status matmul(const MatmulArgs& a) override {
    AIRT_TRY(inner_.matmul(a));
    a.out[a.n * a.rows - 1] += 0.5f;  // one element off
    return {};
  }
  Status get_rows(const GetRowsArgs& a) override { return inner_.get_rows(a); }
  Status rms_norm(const RmsNormArgs& a) override { return inner_.rms_norm(a); }
  Status rope(const RopeArgs& a) override { return inner_.rope(a); }
  Status softmax(const SoftmaxArgs& a) override { return inner_.softmax(a); }
  Status silu_mul(const SiluMulArgs& a) override { return inner_.silu_mul(a); }
  Status add(const AddArgs& a) override { return inner_.add(a); }
  Status attention(const AttentionArgs& a) override { return inner_.attention(a); }
  Status kv_store(const KvStoreArgs& a) override {
    return errorf(Error::kBackendUnsupported, "kv_store %s fails on purpose (the broken test backend)",
                  hal::dtype_name(a.type));
  }

 private:
  OpBackend& inner_;
};

TEST(ConformanceHarness, CatchesAWrongResultAndAFailedCall) {
  std::string why;
  OpBackend* ref = backend_for("generic", 1, &why);
  ASSERT_NE(ref, nullptr) << why;
  Broken broken(*ref);
  const Outcome bad = run_case(broken, *ref, cases(hal::Op::kMatmul, hal::DType::kQ4_0).front());
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.message.find("matmul q4_0"), std::string::npos) << bad.message;
  EXPECT_NE(bad.message.find("exceeds the bound"), std::string::npos) << bad.message;
  const Outcome err = run_case(broken, *ref, cases(hal::Op::kKvStore, hal::DType::kQ8_0).front());
  EXPECT_FALSE(err.ok);
  EXPECT_NE(err.message.find("broken failed: kv_store q8_0"), std::string::npos) << err.message;
  EXPECT_TRUE(run_case(*ref, *ref, cases(hal::Op::kRope, hal::DType::kF32).front()).ok);
}

// Every op of hal/op.h is covered.
TEST(ConformanceHarness, CoversEveryOp) {
  bool seen[hal::kOpCount] = {};
  for (const OpType& ot : op_types()) seen[int(ot.op)] = true;
  for (int i = 0; i < hal::kOpCount; ++i)
    EXPECT_TRUE(seen[i]) << hal::op_name(hal::Op(i)) << " has no cases";
}

}  // namespace
}  // namespace airt::conformance
