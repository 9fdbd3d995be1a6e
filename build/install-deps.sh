#!/usr/bin/env bash
# Installs the system packages admit needs, when missing: OpenCV 4.6 headers
# and libraries for gocv (libopencv-dev) and pkg-config; with the argument
# "test" also Debian's chromium for the console's browser test.
# Runs apt-get as root, or through sudo; says what it does.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! pkg-config --exists opencv4 2>/dev/null; then
	missing+=(libopencv-dev)
fi
if [ "${1:-}" = test ] && ! command -v chromium >/dev/null 2>&1; then
	missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "admit: installing missing system packages: ${missing[*]} (gocv needs OpenCV 4.6; the console test needs chromium)" >&2
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
