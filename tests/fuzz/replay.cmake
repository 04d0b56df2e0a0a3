# Included by tests/CMakeLists.txt: each fuzz target built with replay_main.cpp instead of
# libFuzzer, and a test that runs its checked-in corpus (seeds and crash reproducers):
# Fuzz.<target>.Corpus. Crashes found but not fixed yet wait in tests/fuzz/crashes/<target>/
# as a disabled test (Fuzz.<target>.PendingCrashes); fixing one means moving its file into
# corpus/<target>/.
include(${CMAKE_SOURCE_DIR}/tests/fuzz/targets.cmake)
airt_fuzz_objects()
set(dir ${CMAKE_SOURCE_DIR}/tests/fuzz)
add_library(airt_fuzz_replay_main OBJECT ${dir}/replay_main.cpp)
foreach(t IN LISTS AIRT_FUZZ_TARGETS)
  add_executable(${t}_replay $<TARGET_OBJECTS:airt_fuzz_replay_main> $<TARGET_OBJECTS:${t}_obj>
                             $<TARGET_OBJECTS:airt_fuzz_support>)
  target_link_libraries(${t}_replay PRIVATE ${AIRT_FUZZ_LIBS_${t}})
  add_test(NAME Fuzz.${t}.Corpus COMMAND ${t}_replay ${dir}/corpus/${t})
  set_tests_properties(Fuzz.${t}.Corpus PROPERTIES LABELS unit TIMEOUT ${AIRT_TEST_TIMEOUT})
  if(IS_DIRECTORY ${dir}/crashes/${t})
    add_test(NAME Fuzz.${t}.PendingCrashes COMMAND ${t}_replay ${dir}/crashes/${t})
    set_tests_properties(Fuzz.${t}.PendingCrashes PROPERTIES LABELS unit DISABLED TRUE)
  endif()
endforeach()
