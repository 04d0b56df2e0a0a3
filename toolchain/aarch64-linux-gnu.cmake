# Cross build for 64-bit Arm Linux (Raspberry Pi 4/5, Jetson Orin, any aarch64 board) with
# Debian's cross compiler (g++-aarch64-linux-gnu). Libraries come from Debian multiarch
# (libpcre2-dev:arm64 and friends, installed by toolchain/install-deps.sh) in
# /usr/lib/aarch64-linux-gnu, which this compiler searches by default. Tests run through
# qemu user emulation (toolchain/qemu-aarch64.sh); AIRT_QEMU_CPU picks the emulated CPU.
#
#   cmake --preset aarch64 && cmake --build --preset aarch64
#   ctest --preset aarch64        # qemu -cpu max: NEON + dotprod kernels
#   ctest --preset aarch64-a72    # qemu -cpu cortex-a72 (Raspberry Pi 4): NEON only
#   toolchain/qemu-aarch64.sh build/aarch64/airt run -m model.gguf -p "Hello"
# Board presets (rpi4, rpi5, jetson-orin) inherit this file and only tune for their core.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(AIRT_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${AIRT_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${AIRT_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${AIRT_CROSS_TRIPLE})

# Headers and libraries only from the target's folders (the cross compiler's own
# /usr/aarch64-linux-gnu and the multiarch ones below /usr, where CMAKE_LIBRARY_ARCHITECTURE
# picks lib/aarch64-linux-gnu); build tools from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${AIRT_CROSS_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must describe the arm64 packages, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${AIRT_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# CTest (and gtest_discover_tests) run every aarch64 executable through qemu.
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/qemu-aarch64.sh)
