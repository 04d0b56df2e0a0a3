# Thin wrapper over CMake presets. `make demo` and `make test` are the quick start.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
MODELS ?= $(or $(AIRT_TEST_MODELS),../shared/models)

.PHONY: deps build debug test test-release test-debug demo clean

deps:
	@bash toolchain/install-deps.sh

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

debug: deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug -j $(JOBS)

test-release: build
	ctest --preset release -j $(JOBS)

test-debug: debug
	ctest --preset debug -j $(JOBS)

# The whole suite: release build, then the same tests under ASan + UBSan.
test: test-release test-debug

demo: build
	./build/release/airt run -m $(MODELS)/stories260K.gguf -p "Once upon a time" -n 96 --temp 0

clean:
	rm -rf build
