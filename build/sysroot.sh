#!/usr/bin/env bash
# build/sysroot.sh DIR: the Debian 12 (bookworm) arm64 sysroot the arm64
# cross build links against — libopencv-dev (OpenCV 4.6, the version a
# Raspberry Pi OS bookworm 64-bit installs from apt) with its dependencies
# and libc, unpacked from Debian's arm64 packages. Nothing is installed on
# this machine and no arm64 binary runs: debootstrap --download-only
# resolves and fetches the packages, dpkg-deb -x unpacks them. Made once;
# DIR/.admit-sysroot marks a finished one (delete DIR to make it again).
set -euo pipefail
dir=${1:?usage: build/sysroot.sh DIR}
mirror=${ADMIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ -f "$dir/.admit-sysroot" ] && exit 0

start=$(date +%s)
echo "admit: first arm64 build: making the arm64 sysroot in $dir (Debian bookworm arm64: libopencv-dev 4.6 and its dependencies, about 460 packages, 240 MB to download from $mirror; took about 100 s here), once" >&2
tmp="$dir.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/dl" "$tmp/root/.admit/control"
echo "admit: sysroot: resolving and downloading the packages (debootstrap --download-only)..." >&2
debootstrap --download-only --arch=arm64 --variant=minbase --include=libopencv-dev \
	bookworm "$tmp/dl" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
	tail -20 "$tmp/debootstrap.log" >&2
	echo "admit: sysroot: debootstrap failed (log: $tmp/debootstrap.log)" >&2
	exit 1
}
debs=("$tmp"/dl/var/cache/apt/archives/*.deb)
echo "admit: sysroot: downloaded ${#debs[@]} packages in $(($(date +%s) - start)) s; unpacking..." >&2
for deb in "${debs[@]}"; do
	pkg=$(dpkg-deb -f "$deb" Package)
	dpkg-deb -x "$deb" "$tmp/root"
	# Control files (shlibs, symbols): build/shlibdeps.sh derives the
	# arm64 packages' Depends from them.
	dpkg-deb -e "$deb" "$tmp/root/.admit/control/$pkg"
	dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$tmp/root/.admit/packages"
done
root="$tmp/root"
# Absolute symlinks (libm.so -> /lib/aarch64-linux-gnu/libm.so.6) would
# point into this machine: make them relative, inside the sysroot.
find "$root" -type l -lname '/*' | while read -r link; do
	target=$(readlink "$link")
	ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$target")" "$link"
done
# BLAS and LAPACK are reached through update-alternatives links that the
# packages' postinst would make; the linker follows OpenCV's NEEDED to them.
ln -sfn blas/libblas.so.3 "$root/usr/lib/aarch64-linux-gnu/libblas.so.3"
ln -sfn lapack/liblapack.so.3 "$root/usr/lib/aarch64-linux-gnu/liblapack.so.3"
grep -q '^libopencv-core406 4\.6\.' "$root/.admit/packages" || {
	echo "admit: sysroot: no OpenCV 4.6 (libopencv-core406) among the packages" >&2
	exit 1
}
rm -rf "$dir"
mv "$root" "$dir"
rm -rf "$tmp"
date -u +%FT%TZ >"$dir/.admit-sysroot"
echo "admit: arm64 sysroot ready in $dir ($(du -sh "$dir" | cut -f1), $(($(date +%s) - start)) s)" >&2
