#!/usr/bin/env bash
# Installs every Debian package that building and testing airt needs. Idempotent: a
# machine that has them all gets no apt-get call at all.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev
  libcjson-dev libzstd-dev libpcre2-dev
  libsystemd-dev libmosquitto-dev libsensors-dev libssl-dev
  mosquitto mosquitto-clients systemd
  g++-aarch64-linux-gnu qemu-user
  clang libclang-rt-dev  # make fuzz: libFuzzer (-fsanitize=fuzzer,address,undefined)
  lld  # the linker of every tree (AIRT_LLD)
  glslc libvulkan-dev mesa-vulkan-drivers  # the Vulkan backend; its tests run on lavapipe
)

# The aarch64 cross build (preset aarch64) links against Debian's arm64 multiarch packages,
# and its tests run under qemu-aarch64 with the arm64 loader, libc and libstdc++ below.
# (No libvulkan-dev:arm64: the cross build finds no Vulkan and builds CPU-only.)
arm64_packages=(
  libc6:arm64 libstdc++6:arm64 libgtest-dev:arm64
  libpcre2-dev:arm64 libcjson-dev:arm64 libzstd-dev:arm64
  libsystemd-dev:arm64 libmosquitto-dev:arm64 libsensors-dev:arm64 libssl-dev:arm64
)

# Another apt or dpkg (unattended-upgrades, a second build) may hold the dpkg lock: wait
# for it, bounded, instead of failing. apt-get waits by itself (DPkg::Lock::Timeout);
# dpkg --add-architecture and dpkg-query are given the same grace here.
lock_timeout=${AIRT_DPKG_LOCK_TIMEOUT:-600}
dpkg_locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock)
dpkg_busy() {
  if command -v fuser >/dev/null; then
    fuser "${dpkg_locks[@]}" >/dev/null 2>&1
  elif command -v lslocks >/dev/null; then
    lslocks -n -o PATH 2>/dev/null | grep -qE '^/var/lib/(dpkg/lock|apt/lists/lock)'
  else
    return 1
  fi
}
wait_dpkg_lock() {
  local waited=0
  while dpkg_busy; do
    [ $waited -eq 0 ] && echo "install-deps: waiting for another apt/dpkg to finish (up to ${lock_timeout} s)" >&2
    [ $waited -ge "$lock_timeout" ] && { echo "install-deps: the dpkg lock is still held after ${lock_timeout} s; try again later" >&2; exit 1; }
    sleep 5
    waited=$((waited + 5))
  done
}
# Runs a dpkg/apt command, retrying while it fails because the lock is taken (a process
# can take it between wait_dpkg_lock and the command).
with_dpkg_lock() {
  local start=$SECONDS out
  while true; do
    wait_dpkg_lock
    if out=$("$@" 2>&1); then
      [ -n "$out" ] && printf '%s\n' "$out" >&2
      return 0
    fi
    if ! grep -qiE 'lock|resource temporarily unavailable' <<<"$out" || [ $((SECONDS - start)) -ge "$lock_timeout" ]; then
      printf '%s\n' "$out" >&2
      return 1
    fi
    sleep 5
  done
}

wait_dpkg_lock
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
  with_dpkg_lock $sudo dpkg --add-architecture arm64
fi
apt_opts=(-o "DPkg::Lock::Timeout=$lock_timeout" -qq)
with_dpkg_lock $sudo apt-get "${apt_opts[@]}" update
with_dpkg_lock $sudo apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
