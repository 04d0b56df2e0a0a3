# Install layout and the Debian package (CPack DEB): the binary, the hardened systemd
# unit, the documented default config (a conffile) and the example mosquitto config.
include(GNUInstallDirs)

install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/airt.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/config/airt.json DESTINATION /etc/airt)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/mosquitto/airt.conf ${CMAKE_SOURCE_DIR}/packaging/mosquitto/airt.acl
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/mosquitto)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})

if(AIRT_ARCH STREQUAL "aarch64")
  set(AIRT_DEB_ARCH arm64)
elseif(AIRT_ARCH STREQUAL "x86_64")
  set(AIRT_DEB_ARCH amd64)
else()
  set(AIRT_DEB_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME airt)
set(CPACK_PACKAGE_VENDOR "The airt authors")
set(CPACK_PACKAGE_CONTACT "airt maintainers <airt@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "LLM inference runtime for embedded Linux boards (GGUF, MQTT, systemd)")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${AIRT_DEB_ARCH})
set(CPACK_DEBIAN_FILE_NAME "airt_${PROJECT_VERSION}_${AIRT_DEB_ARCH}.deb")
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
# Named explicitly (not dpkg-shlibdeps) so a cross-built arm64 package gets them too.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libstdc++6 (>= 12), libpcre2-8-0, libcjson1, libzstd1, libmosquitto1, libssl3, libsystemd0")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mosquitto")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${CMAKE_SOURCE_DIR}/packaging/debian/conffiles")
include(CPack)
