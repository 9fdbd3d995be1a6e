#!/usr/bin/env bash
# build/shlibdeps.sh SYSROOT BINARY...: the Depends: of binaries linked
# against the arm64 sysroot (build/sysroot.sh), derived as
# dpkg-shlibdeps does from the shlibs files: each NEEDED soname of the
# binaries (readelf -d) is looked up in the shlibs control files of the
# sysroot's packages ("libopencv_core 406 libopencv-core406 (>= 4.6.0+dfsg)").
# dpkg-shlibdeps itself only knows this machine's (amd64) packages; the
# amd64 packages use it directly.
set -euo pipefail
sr=${1:?usage: build/shlibdeps.sh SYSROOT BINARY...}
shift
shlibs=$(cat "$sr"/.admit/control/*/shlibs | grep -v '^udeb:')
for bin in "$@"; do
	readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
done | sort -u | while read -r so; do
	case "$so" in
	*.so.*) name=${so%%.so.*} ver=${so#*.so.} ;;                # libfoo.so.6
	*-*.so) name=${so%-*} ver=${so##*-} ver=${ver%.so} ;;       # libfoo-1.2.so
	*) echo "shlibdeps: cannot read the soname $so" >&2; exit 1 ;;
	esac
	dep=$(awk -v n="$name" -v v="$ver" '$1 == n && $2 == v { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' <<<"$shlibs")
	if [ -z "$dep" ]; then
		echo "shlibdeps: no package of $sr declares $so (shlibs)" >&2
		exit 1
	fi
	echo "$dep"
done | sort -u | paste -sd, - | sed 's/,/, /g'
