#!/usr/bin/env bash
# build/dist.sh ARCH OUTDIR [COMMAND...]: builds admit-agent, admit-fleet
# and admitctl (or the commands named) for linux/ARCH into OUTDIR,
# stripped and position-independent (lintian's hardening checks). amd64
# builds natively against this machine's OpenCV 4.6; arm64 cross-builds
# with Debian's aarch64 gcc against the bookworm arm64 sysroot in
# .cache/sysroot-arm64 (build/sysroot.sh makes it the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: build/dist.sh amd64|arm64 OUTDIR [COMMAND...]}
out=${2:?usage: build/dist.sh amd64|arm64 OUTDIR [COMMAND...]}
shift 2
cmds=("$@")
[ ${#cmds[@]} -gt 0 ] || cmds=(admit-agent admit-fleet admitctl)
# Stamped with the Debian version (build/debversion.sh, which make exports
# as DEB_VERSION): admit-agent -version on a gate, the firmware the fleet
# shows and dpkg -l all say the same.
version=${DEB_VERSION:-$(build/debversion.sh)}
goenv=(CGO_ENABLED=1 GOOS=linux GOARCH="$arch")
case "$arch" in
amd64)
	[ "$(go env GOHOSTARCH)" = amd64 ] || { echo "dist: the amd64 build runs on an amd64 machine" >&2; exit 1; }
	;;
arm64)
	sr="$PWD/.cache/sysroot-arm64"
	build/sysroot.sh "$sr"
	goenv+=(CC="aarch64-linux-gnu-gcc --sysroot=$sr" CXX="aarch64-linux-gnu-g++ --sysroot=$sr"
		PKG_CONFIG_SYSROOT_DIR="$sr" PKG_CONFIG_LIBDIR="$sr/usr/lib/aarch64-linux-gnu/pkgconfig:$sr/usr/share/pkgconfig")
	;;
*)
	echo "dist: no build for $arch (amd64, arm64)" >&2
	exit 1
	;;
esac
mkdir -p "$out"
for cmd in "${cmds[@]}"; do
	start=$(date +%s)
	env "${goenv[@]}" go build -trimpath -buildmode=pie -ldflags "-s -w -X admit/internal/version.Version=$version" -o "$out/$cmd" "./cmd/$cmd"
	echo "dist: $out/$cmd (linux/$arch, $version) in $(($(date +%s) - start)) s" >&2
done
