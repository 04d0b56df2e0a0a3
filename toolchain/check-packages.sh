#!/usr/bin/env bash
# Builds the Debian packages from the release (amd64) and aarch64 (arm64) build trees
# and checks them: the expected files are inside, the conffile is marked, and each
# package's airt runs (the arm64 one under qemu-aarch64).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/packages
rm -rf "$out" && mkdir -p "$out"
for tree in build/release build/aarch64; do
  (cd "$tree" && cpack -B "$PWD/../packages" >/dev/null)
done
for arch in amd64 arm64; do
  deb=$(ls "$out"/airt_*_"$arch".deb)
  root="$out/root-$arch"
  dpkg-deb -x "$deb" "$root"
  for f in usr/bin/airt usr/lib/systemd/system/airt.service etc/airt/airt.json \
           usr/share/doc/airt/examples/mosquitto/airt.conf usr/share/doc/airt/examples/mosquitto/airt.acl; do
    [ -e "$root/$f" ] || { echo "check-packages: $deb lacks /$f" >&2; exit 1; }
  done
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || { echo "check-packages: $deb is not $arch" >&2; exit 1; }
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/airt/airt.json \
    || { echo "check-packages: $deb does not mark /etc/airt/airt.json as a conffile" >&2; exit 1; }
  if [ "$arch" = amd64 ]; then run=("$root/usr/bin/airt"); else run=(toolchain/qemu-aarch64.sh "$root/usr/bin/airt"); fi
  "${run[@]}" --help | grep -q "serve" || { echo "check-packages: airt from $deb does not run" >&2; exit 1; }
  "${run[@]}" config check "$root/etc/airt/airt.json" >/dev/null \
    || { echo "check-packages: the packaged config does not pass 'airt config check'" >&2; exit 1; }
  echo "check-packages: $(basename "$deb") ok ($(dpkg-deb -f "$deb" Installed-Size) KiB installed)"
done
