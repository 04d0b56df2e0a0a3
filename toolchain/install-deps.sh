#!/usr/bin/env bash
# Installs every Debian package that building and testing airt needs. Idempotent: a
# machine that has them all gets no apt-get call at all.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev
  libcjson-dev libzstd-dev libpcre2-dev
  libsystemd-dev libmosquitto-dev libsensors-dev
  mosquitto mosquitto-clients systemd
  g++-aarch64-linux-gnu qemu-user
)

# The aarch64 cross build (preset aarch64) links against Debian's arm64 multiarch packages,
# and its tests run under qemu-aarch64 with the arm64 loader, libc and libstdc++ below.
arm64_packages=(
  libc6:arm64 libstdc++6:arm64 libgtest-dev:arm64
  libpcre2-dev:arm64 libcjson-dev:arm64 libzstd-dev:arm64
  libsystemd-dev:arm64 libmosquitto-dev:arm64 libsensors-dev:arm64
)

missing=()
for p in "${packages[@]}" "${arm64_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
