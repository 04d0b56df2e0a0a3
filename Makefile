# Thin wrapper over CMake presets. `make demo` and `make test` are the quick start.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
MODELS ?= $(or $(AIRT_TEST_MODELS),../shared/models)

.PHONY: deps build debug aarch64 test test-release test-debug test-aarch64 package demo clean

deps:
	@bash toolchain/install-deps.sh

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

debug: deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug -j $(JOBS)

# Cross build for 64-bit Arm with Debian's g++-aarch64-linux-gnu.
aarch64: deps
	cmake --preset aarch64 >/dev/null
	cmake --build --preset aarch64 -j $(JOBS)

test-release: build
	ctest --preset release -j $(JOBS)

test-debug: debug
	ctest --preset debug -j $(JOBS)

# The aarch64 tests under qemu user emulation, twice: an emulated CPU with every extension
# (NEON + dotprod kernels) and a Cortex-A72 (Raspberry Pi 4: NEON only, dotprod refused).
test-aarch64: aarch64
	ctest --preset aarch64 -j $(JOBS)
	ctest --preset aarch64-a72 -j $(JOBS)

# Debian packages for amd64 and arm64 (build/packages/*.deb), each checked: contents,
# conffile, and that its airt runs (arm64 under qemu).
package: build aarch64
	bash toolchain/check-packages.sh

# The whole suite: release build, the same tests under ASan + UBSan, aarch64 under qemu,
# then the packages.
test: test-release test-debug test-aarch64 package

demo: build
	./build/release/airt run -m $(MODELS)/stories260K.gguf -p "Once upon a time" -n 96 --temp 0

clean:
	rm -rf build
