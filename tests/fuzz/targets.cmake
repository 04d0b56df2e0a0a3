# The fuzz targets and the libraries each links: used by the libFuzzer build
# (tests/fuzz/CMakeLists.txt, AIRT_FUZZ=ON) and by the corpus replay tests of the normal
# build (tests/fuzz/replay.cmake).
set(AIRT_FUZZ_TARGETS gguf_fuzz tokenizer_fuzz protocol_fuzz config_fuzz session_fuzz mqtt_wire_fuzz)
set(AIRT_FUZZ_LIBS_gguf_fuzz airt_gguf)
set(AIRT_FUZZ_LIBS_tokenizer_fuzz airt_text)
set(AIRT_FUZZ_LIBS_protocol_fuzz airt_service)
set(AIRT_FUZZ_LIBS_config_fuzz airt_service)
set(AIRT_FUZZ_LIBS_mqtt_wire_fuzz airt_service)
set(AIRT_FUZZ_LIBS_session_fuzz airt_bench airt_engine)

# Each target's own source and the shared helpers are compiled once per tree (object
# libraries): the libFuzzer executable and the corpus replay of the sanitizer tree link the
# same objects, built with the same flags, instead of compiling them twice.
function(airt_fuzz_objects)
  if(TARGET airt_fuzz_support)
    return()
  endif()
  set(dir ${CMAKE_SOURCE_DIR}/tests/fuzz)
  add_library(airt_fuzz_support OBJECT ${dir}/fuzz_support.cpp)
  target_include_directories(airt_fuzz_support PRIVATE ${CMAKE_SOURCE_DIR})
  foreach(t IN LISTS AIRT_FUZZ_TARGETS)
    add_library(${t}_obj OBJECT ${dir}/${t}.cpp)
    target_link_libraries(${t}_obj PUBLIC ${AIRT_FUZZ_LIBS_${t}})
    target_compile_definitions(${t}_obj PRIVATE AIRT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  endforeach()
endfunction()
