#!/usr/bin/env bash
# build/qemu-test.sh: builds the arm64 admit-agent (build/dist.sh: the
# cross toolchain and the bookworm arm64 sysroot) and runs it under
# qemu-user with the sysroot's libraries, as a Raspberry Pi OS 64-bit
# would: -version, its NEEDED OpenCV 4.6 libraries, and hwcheck -sim on
# every board file in build/boards. qemu-aarch64-static is called
# directly, so no binfmt_misc registration is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
sr=.cache/sysroot-arm64
out=.cache/qemu-test
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64) || {
	echo "qemu-test: no qemu-aarch64(-static): apt-get install qemu-user-static" >&2
	exit 1
}
start=$(date +%s)
build/dist.sh arm64 "$out" admit-agent
echo "qemu-test: arm64 admit-agent built in $(($(date +%s) - start)) s" >&2
passed=0 failed=0
ok() { echo "qemu-test: ok   $*"; passed=$((passed + 1)); }
bad() { echo "qemu-test: FAIL $*"; failed=$((failed + 1)); }
run() { QEMU_LD_PREFIX="$sr" "$qemu" "$out/admit-agent" "$@"; }

want="admit-agent ${DEB_VERSION:-$(build/debversion.sh)} "
if v=$(run -version) && [[ "$v" == "$want"* && "$v" == *"linux/arm64"* ]]; then ok "-version: $v"; else bad "-version: $v (want $want... linux/arm64)"; fi
needed=$(readelf -d "$out/admit-agent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ' -)
if [[ " $needed " == *" libopencv_core.so.406 "* && " $needed " == *" libopencv_videoio.so.406 "* ]]; then
	ok "links OpenCV 4.6 (NEEDED: $needed)"
else
	bad "NEEDED: $needed"
fi
for board in build/boards/*.json; do
	if table=$(run hwcheck -sim -board "$board" 2>&1); then
		ok "hwcheck -sim -board $board: $(tail -1 <<<"$table")"
	else
		echo "$table"
		bad "hwcheck -sim -board $board"
	fi
done
# Without -sim on this machine, nothing answers: the probes ran for real.
if run hwcheck -board build/boards/pi4-turnstile.json >/dev/null 2>&1; then
	bad "hwcheck without -sim answered on a machine with no Raspberry Pi hardware"
else
	ok "hwcheck without -sim reports the missing hardware"
fi
echo "qemu-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
