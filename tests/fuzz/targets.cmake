# The fuzz targets and the libraries each links: used by the libFuzzer build
# (tests/fuzz/CMakeLists.txt, AIRT_FUZZ=ON) and by the corpus replay tests of the normal
# build (tests/fuzz/replay.cmake).
set(AIRT_FUZZ_TARGETS gguf_fuzz tokenizer_fuzz protocol_fuzz config_fuzz session_fuzz)
set(AIRT_FUZZ_LIBS_gguf_fuzz airt_gguf)
set(AIRT_FUZZ_LIBS_tokenizer_fuzz airt_text)
set(AIRT_FUZZ_LIBS_protocol_fuzz airt_service)
set(AIRT_FUZZ_LIBS_config_fuzz airt_service)
set(AIRT_FUZZ_LIBS_session_fuzz airt_bench airt_engine)
