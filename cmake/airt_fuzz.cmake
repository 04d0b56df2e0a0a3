# libFuzzer targets (-DAIRT_FUZZ=ON, clang only; see tests/fuzz/README.md). Every library
# is built with libFuzzer's coverage instrumentation and ASan + UBSan, so the fuzzers reach
# and check the code under the parsers too, not just the entry points. The debug preset
# turns it on: the same instrumented libraries serve the tests (which link no libFuzzer;
# ASan's runtime provides the coverage callbacks) and the fuzzers, one tree instead of two.
# Line tables are all a sanitizer report needs, and cheaper to compile and link than -g.
option(AIRT_FUZZ "Build the libFuzzer targets in tests/fuzz (clang; ASan + UBSan everywhere)" OFF)
if(AIRT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "AIRT_FUZZ needs clang's libFuzzer: configure with -DCMAKE_C_COMPILER=clang "
                        "-DCMAKE_CXX_COMPILER=clang++ (Debian: apt-get install clang libclang-rt-14-dev), "
                        "or run `make fuzz`")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined -gline-tables-only)
  add_link_options(-fsanitize=address,undefined)
endif()

# The compute kernels (hal) take no part in parsing: coverage feedback from them would only
# add noise to the search, and its per-branch callbacks made the sanitizer tests that run
# models several times slower. They keep ASan + UBSan. (Called after the modules exist.)
function(airt_fuzz_exclude_from_coverage)
  if(AIRT_FUZZ)
    foreach(target IN LISTS ARGN)
      target_compile_options(${target} PRIVATE -fno-sanitize=fuzzer-no-link)
    endforeach()
  endif()
endfunction()
