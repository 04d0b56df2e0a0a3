#!/usr/bin/env bash
# Runs an aarch64 Linux program on this machine through qemu user emulation: the CTest
# emulator of the aarch64 preset (toolchain/aarch64-linux-gnu.cmake).
#   AIRT_QEMU_CPU  the emulated CPU, default "max" (every extension qemu has, dotprod and
#                  fp16 included); "cortex-a72" is a Raspberry Pi 4: NEON without dotprod.
# The loader, libc and libstdc++ come from Debian's arm64 multiarch packages (libc6:arm64,
# libstdc++6:arm64, installed by toolchain/install-deps.sh), found at their usual paths,
# so no -L prefix is given: with `-L /usr/aarch64-linux-gnu` qemu 7.2's forked children
# hang before they reach exec, which breaks every test that starts a process.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; }
command -v qemu-aarch64 >/dev/null || { echo "qemu-aarch64: not found; run toolchain/install-deps.sh (Debian package qemu-user)" >&2; exit 127; }
[ -e /lib/ld-linux-aarch64.so.1 ] || { echo "qemu-aarch64: no arm64 loader; run toolchain/install-deps.sh (Debian package libc6:arm64)" >&2; exit 127; }
exec qemu-aarch64 -cpu "${AIRT_QEMU_CPU:-max}" "$@"
