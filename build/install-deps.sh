#!/usr/bin/env bash
# Installs the system packages admit needs, when missing: OpenCV 4.6 headers
# and libraries for gocv (libopencv-dev) and pkg-config; with the argument
# "test" also Debian's chromium for the console's browser test and what
# the arm64 build under qemu-user needs (below); with "dist" what the
# cross builds and the packages need: Debian's aarch64 cross gcc and g++,
# debootstrap (the arm64 sysroot, the clean root of the package test),
# dpkg-dev (dpkg-shlibdeps) and lintian.
# Runs apt-get as root, or through sudo; says what it does.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! pkg-config --exists opencv4 2>/dev/null; then
	missing+=(libopencv-dev)
fi
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
case "${1:-}" in
test)
	need chromium chromium
	need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
	need aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
	need debootstrap debootstrap
	need qemu-aarch64-static qemu-user-static
	;;
dist)
	need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
	need aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
	need debootstrap debootstrap
	need dpkg-shlibdeps dpkg-dev
	need lintian lintian
	;;
esac
[ ${#missing[@]} -eq 0 ] && exit 0

echo "admit: installing missing system packages: ${missing[*]} (gocv needs OpenCV 4.6; the console test needs chromium; the arm64 build and its test need the aarch64 cross compilers, debootstrap and qemu-user-static; the packages need dpkg-dev and lintian)" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "admit: not root and no sudo: install ${missing[*]} yourself (apt-get install ${missing[*]})" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
pkg-config --modversion opencv4 >/dev/null || { echo "admit: opencv4 still not found by pkg-config" >&2; exit 1; }
echo "admit: system packages installed" >&2
