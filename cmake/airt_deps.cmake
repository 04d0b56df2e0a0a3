# External libraries (Debian packages, installed by toolchain/install-deps.sh).
find_package(Threads REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)

target_link_libraries(airt_core INTERFACE Threads::Threads)
if(TARGET airt_text)
  get_target_property(_t airt_text TYPE)
  if(_t STREQUAL "STATIC_LIBRARY")
    target_link_libraries(airt_text PUBLIC PkgConfig::PCRE2)
  endif()
endif()

# The MQTT service: libmosquitto (client), libsystemd (sd_notify, journald), cJSON.
pkg_check_modules(MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
if(TARGET airt_service)
  get_target_property(_t airt_service TYPE)
  if(_t STREQUAL "STATIC_LIBRARY")
    target_link_libraries(airt_service PUBLIC PkgConfig::MOSQUITTO PkgConfig::SYSTEMD PkgConfig::CJSON)
  endif()
endif()
