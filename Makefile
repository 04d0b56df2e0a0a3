# Thin wrapper over CMake presets. `make demo` and `make test` are the quick start.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
MODELS ?= $(or $(AIRT_TEST_MODELS),../shared/models)
# Seconds each fuzzer runs: `make fuzz` (a search) and `make test` (a regression check).
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 20
# Longest a single test may run (ctest --timeout; under qemu a test runs ~10x slower).
TEST_TIMEOUT ?= 300
TEST_TIMEOUT_QEMU ?= 600
# Each phase (the deps check, a tree's configure and build, the fuzzers, the packages) prints
# "phase NAME: ok, N s wall" beside the suites' lines; `make test` ends with all of them.
PHASE := bash toolchain/phase.sh

.PHONY: deps build debug aarch64 fuzz-build test test-release test-debug test-aarch64 test-fuzz fuzz \
        package demo clean phases-start

deps:
	@$(PHASE) deps bash toolchain/install-deps.sh

build: deps
	$(PHASE) build-release sh -c 'cmake --preset release >/dev/null && cmake --build --preset release -j $(JOBS)'

# clang, ASan + UBSan at -O1: the tests and the libFuzzer targets (one tree, built once).
debug: deps
	$(PHASE) build-debug sh -c 'cmake --preset debug >/dev/null && cmake --build --preset debug -j $(JOBS)'

# Cross build for 64-bit Arm with Debian's g++-aarch64-linux-gnu. Its tests run under qemu:
# it builds the tests of the kernels and the numerics through them in full, and of the
# `portable` test executables (tests/CMakeLists.txt) only a sample; PORTABLE_ALL=1 all.
PORTABLE_ALL ?= 0
aarch64: deps
	$(PHASE) build-aarch64 sh -c 'cmake --preset aarch64 -DAIRT_TEST_PORTABLE_ALL=$(if $(filter 1,$(PORTABLE_ALL)),ON,OFF) >/dev/null && cmake --build --preset aarch64 -j $(JOBS)'

# libFuzzer targets (clang, ASan + UBSan everywhere): tests/fuzz/README.md. They live in the
# debug tree (build/debug/tests/fuzz), whose libraries carry the coverage instrumentation.
FUZZ_TARGETS := gguf_fuzz tokenizer_fuzz protocol_fuzz config_fuzz session_fuzz mqtt_wire_fuzz
fuzz-build: deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug -j $(JOBS) --target $(FUZZ_TARGETS)

# Each suite prints one summary line (tests, seconds) and its slowest tests.
test-release: build
	bash toolchain/ctest-suite.sh release $(TEST_TIMEOUT) $(JOBS)

test-debug: debug
	bash toolchain/ctest-suite.sh debug $(TEST_TIMEOUT) $(JOBS)

# The aarch64 tests under qemu user emulation, twice. What changes between x86 and aarch64 is
# the kernels and the numerics through them; the service, CLI, governor, bench, ladder and
# speculative-rule tests take the same paths on every arch. So the rule is a ctest label set
# in tests/CMakeLists.txt: a test executable labelled `portable` runs in full on the host
# (release and sanitizer suites) and under qemu only as a sample (one service request end to
# end, one CLI run, one speculative equality, the arena plan); every other test (kernels,
# logits, KV precision, batching, and any new test file) runs under qemu in full.
# - an emulated CPU with every extension (NEON + dotprod kernels): every test in the tree but
#   the kernel tests of the NEON table (/neon_*), which run on the A72 below;
# - a Cortex-A72 (Raspberry Pi 4: NEON only, dotprod refused), where what changes is the
#   kernels: the unit tests (every kernel against the generic one, ISA dispatch) but those
#   of the generic table (/generic_*), which ran above, and of the dotprod table, which
#   would only skip (CpuFeatures.DetectionMatchesExecution checks that SDOT faults and
#   dotprod is not chosen), and the logits-against-reference tests of each model type.
#   A kernel test forces its table, so the same instructions under the same emulator give
#   the same bits on either CPU; what the A72 adds is that the NEON kernels need nothing
#   beyond it and that dispatch refuses dotprod.
# A72_ALL=1 runs every test of the tree on both CPUs; with PORTABLE_ALL=1 (every portable
# test built in the cross tree too) that is every test of the host suites.
A72_ALL ?= 0
test-aarch64: aarch64
ifeq ($(A72_ALL),1)
	bash toolchain/ctest-suite.sh aarch64 $(TEST_TIMEOUT_QEMU) $(JOBS)
	bash toolchain/ctest-suite.sh aarch64-a72 $(TEST_TIMEOUT_QEMU) $(JOBS)
else
	bash toolchain/ctest-suite.sh aarch64 $(TEST_TIMEOUT_QEMU) $(JOBS) aarch64 -E '/neon_'
	bash toolchain/ctest-suite.sh aarch64-a72 $(TEST_TIMEOUT_QEMU) $(JOBS) aarch64-a72-unit -L unit -E '/(generic|dotprod)_'
	bash toolchain/ctest-suite.sh aarch64-a72 $(TEST_TIMEOUT_QEMU) $(JOBS) aarch64-a72-logits -R '^Reference/LogitsTest'
endif

# Every fuzzer for FUZZ_TEST_SECONDS over its seeds and crash reproducers: a regression
# that crashes fails here.
# (In `make test` the debug tree is already built; FUZZ_JOBS fuzzers run side by side, by
# default all of them: each still runs FUZZ_TEST_SECONDS over its whole corpus, and the
# check takes that long whatever the number of cores.)
FUZZ_JOBS ?= $(words $(FUZZ_TARGETS))
test-fuzz: fuzz-build
	FUZZ_JOBS=$(FUZZ_JOBS) $(PHASE) fuzz bash toolchain/run-fuzzers.sh $(FUZZ_TEST_SECONDS)

# Every fuzzer for FUZZ_SECONDS (make fuzz FUZZ_SECONDS=3600 for a longer search).
fuzz: fuzz-build
	bash toolchain/run-fuzzers.sh $(FUZZ_SECONDS)

# Debian packages for amd64 and arm64 (build/packages/*.deb), each checked: contents,
# conffile, and that its airt runs (arm64 under qemu).
package: build aarch64
	$(PHASE) packages bash toolchain/check-packages.sh

# The whole suite: release build, the same tests under ASan + UBSan, aarch64 under qemu,
# the fuzzers, then the packages.
test: phases-start test-release test-debug test-aarch64 test-fuzz package
	@$(PHASE) --summary

phases-start:
	@$(PHASE) --reset

# Installs, builds, and shows airt working with nothing but the clone (toolchain/demo.sh);
# MODEL=path/to/model.gguf also generates text with a real model.
demo:
	MODEL="$(MODEL)" AIRT_TEST_MODELS="$(MODELS)" bash toolchain/demo.sh

clean:
	rm -rf build
