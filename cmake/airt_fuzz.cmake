# libFuzzer targets (-DAIRT_FUZZ=ON, clang only; see tests/fuzz/README.md). Every library
# is built with libFuzzer's coverage instrumentation and ASan + UBSan, so the fuzzers reach
# and check the code under the parsers too, not just the entry points.
option(AIRT_FUZZ "Build the libFuzzer targets in tests/fuzz (clang; ASan + UBSan everywhere)" OFF)
if(AIRT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "AIRT_FUZZ needs clang's libFuzzer: configure with -DCMAKE_C_COMPILER=clang "
                        "-DCMAKE_CXX_COMPILER=clang++ (Debian: apt-get install clang libclang-rt-14-dev), "
                        "or run `make fuzz`")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined -g)
  add_link_options(-fsanitize=address,undefined)
endif()
