#!/usr/bin/env bash
# build/package-test.sh DISTDIR: installs the amd64 packages of DISTDIR
# into a clean Debian 12 root and checks what their maintainer scripts
# do on install, upgrade, removal and purge, and that their units pass
# systemd-analyze verify. The clean root (debootstrap minbase + systemd,
# about 35 s the first time) is kept in .cache/root-bookworm-amd64; each
# run works in a copy (.cache/package-test). Needs root (chroot) and the
# Debian mirror (the packages' dependencies come from it).
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${1:?usage: build/package-test.sh DISTDIR}
mirror=${ADMIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
clean=.cache/root-bookworm-amd64
root=.cache/package-test
passed=0 failed=0

ok() { echo "package-test: ok   $*"; passed=$((passed + 1)); }
bad() { echo "package-test: FAIL $*"; failed=$((failed + 1)); }
check() { # check WHAT COMMAND...
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
umount_all() {
	for m in "$root/proc" "$root/dev/pts" "$root/dev"; do
		mountpoint -q "$m" && umount -l "$m"
	done
	return 0
}

agent=$(ls "$dist"/admit-agent_*_amd64.deb | tail -1)
fleet=$(ls "$dist"/admit-fleet_*_amd64.deb | tail -1)
version=$(dpkg-deb -f "$agent" Version)
[ "$(id -u)" -eq 0 ] || { echo "package-test: needs root (chroot, mounts)" >&2; exit 1; }

if [ ! -f "$clean/.admit-root" ]; then
	start=$(date +%s)
	echo "package-test: first run: making a clean Debian 12 amd64 root in $clean (debootstrap minbase + systemd; took about 35 s here), once" >&2
	rm -rf "$clean"
	debootstrap --variant=minbase --include=systemd bookworm "$clean" "$mirror" >"$clean.log" 2>&1 || {
		tail -20 "$clean.log" >&2
		exit 1
	}
	touch "$clean/.admit-root"
	echo "package-test: clean root ready in $(($(date +%s) - start)) s" >&2
fi
umount_all
rm -rf "$root"
cp -a "$clean" "$root"
trap umount_all EXIT
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$root/tmp/debs"

# An upgrade needs a newer version of the same package: the same files,
# repackaged as VERSION+upgrade.
work=$(mktemp -d)
trap 'umount_all; rm -rf "$work"' EXIT
dpkg-deb -R "$agent" "$work/agent2"
sed -i "s/^Version: .*/Version: $version+upgrade/" "$work/agent2/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$work/agent2" "$root/tmp/debs/admit-agent_${version}+upgrade_amd64.deb" >/dev/null
cp "$agent" "$fleet" "$root/tmp/debs/"
deb1=/tmp/debs/$(basename "$agent")
deb2=/tmp/debs/admit-agent_${version}+upgrade_amd64.deb

trace=(-o DPkg::Options::=--debug=2)
# scripts LOG: the maintainer scripts dpkg --debug=2 ran, "admit-agent.prerm remove ...".
scripts() {
	sed -n 's|.*fork/exec .*/\(admit-agent\.[a-z]*\) ( \([a-z-]*\).*|\1 \2|p' "$1" | paste -sd' ' - || true
}

echo "package-test: apt install ./$(basename "$agent") into a clean Debian 12 root" >&2
start=$(date +%s)
in_root apt-get update -q >/dev/null
if in_root apt-get install -y -q "${trace[@]}" "$deb1" >"$work/install.log" 2>&1; then
	ok "apt install ./$(basename "$agent") ($(($(date +%s) - start)) s, with its dependencies)"
else
	tail -30 "$work/install.log"
	bad "apt install ./$(basename "$agent")"
	exit 1
fi
case "$(scripts "$work/install.log")" in *"admit-agent.postinst configure"*) ok "postinst configure ran on install" ;; *) bad "scripts on install: $(scripts "$work/install.log")" ;; esac
check "admit-agent -version runs" in_root admit-agent -version
check "hwcheck -sim answers on pi4-turnstile" in_root admit-agent hwcheck -sim -board /usr/share/admit/boards/pi4-turnstile.json
check "system user admit" in_root getent passwd admit
in_groups() { # admit is in each of gpio i2c spi video input that exists here
	local g have
	have=" $(in_root id -nG admit) "
	for g in gpio i2c spi video input; do
		if in_root getent group "$g" >/dev/null && [[ "$have" != *" $g "* ]]; then return 1; fi
	done
}
check "admit in those of gpio, i2c, spi, video, input that exist ($(in_root id -nG admit))" in_groups
check "no gpio, i2c, spi groups created on plain Debian" sh -c "! chroot '$root' getent group gpio i2c spi"
check "/var/lib/admit/agent admit:admit 0750" test "$(in_root stat -c '%U:%G %a' /var/lib/admit/agent)" = "admit:admit 750"
check "/etc/admit/agent.json root:admit 0640" test "$(in_root stat -c '%U:%G %a' /etc/admit/agent.json)" = "root:admit 640"
check "/etc/admit/agent.json is a conffile" grep -qx /etc/admit/agent.json "$root/var/lib/dpkg/info/admit-agent.conffiles"
check "unit enabled (multi-user.target.wants)" test -L "$root/etc/systemd/system/multi-user.target.wants/admit-agent.service"
check "device drop-in allows the camera /dev/video0" grep -qx 'DeviceAllow=/dev/video0 rw' "$root/etc/systemd/system/admit-agent.service.d/devices.conf"
if in_root systemd-analyze verify admit-agent.service >"$work/verify.log" 2>&1 && [ ! -s "$work/verify.log" ]; then
	ok "systemd-analyze verify admit-agent.service (no findings)"
else
	cat "$work/verify.log"
	bad "systemd-analyze verify admit-agent.service"
fi

# Upgrade: the operator's config and the gate's data survive; the
# postinst regenerates the drop-in from the config.
echo '{"event": "gala", "data": "/var/lib/admit/agent", "board": "/usr/share/admit/boards/kiosk-lcd.json", "camera": "2"}' >"$root/etc/admit/agent.json"
echo "journal" >"$root/var/lib/admit/agent/gate.db"
if in_root apt-get install -y -q "${trace[@]}" -o DPkg::Options::=--force-confold "$deb2" >"$work/upgrade.log" 2>&1; then
	ok "upgrade to $version+upgrade"
else
	tail -30 "$work/upgrade.log"
	bad "upgrade to $version+upgrade"
fi
s=$(scripts "$work/upgrade.log")
case "$s" in *"admit-agent.prerm upgrade"*"admit-agent.postinst configure"*|*"admit-agent.postinst configure"*"admit-agent.prerm upgrade"*) ok "prerm upgrade and postinst configure ran on upgrade" ;; *) bad "scripts on upgrade: $s" ;; esac
check "config kept on upgrade" grep -q '"event": "gala"' "$root/etc/admit/agent.json"
check "data kept on upgrade" test -f "$root/var/lib/admit/agent/gate.db"
check "drop-in regenerated from the board and camera" sh -c "grep -qx 'DeviceAllow=/dev/i2c-1 rw' '$root/etc/systemd/system/admit-agent.service.d/devices.conf' && grep -qx 'DeviceAllow=/dev/video2 rw' '$root/etc/systemd/system/admit-agent.service.d/devices.conf'"

# Removal keeps data and config; purge deletes them.
in_root dpkg --debug=2 --remove admit-agent >"$work/remove.log" 2>&1 || bad "dpkg --remove"
s=$(scripts "$work/remove.log")
case "$s" in *"admit-agent.postrm remove"*"admit-agent.prerm remove"*|*"admit-agent.prerm remove"*"admit-agent.postrm remove"*) ok "prerm and postrm ran on removal" ;; *) bad "scripts on removal: $s" ;; esac
check "binary removed" test ! -e "$root/usr/bin/admit-agent"
check "data kept on removal" test -f "$root/var/lib/admit/agent/gate.db"
check "config kept on removal" test -f "$root/etc/admit/agent.json"
in_root dpkg --debug=2 --purge admit-agent >"$work/purge.log" 2>&1 || bad "dpkg --purge"
case "$(scripts "$work/purge.log")" in *"admit-agent.postrm purge"*) ok "postrm purge ran" ;; *) bad "scripts on purge: $(scripts "$work/purge.log")" ;; esac
check "data deleted on purge" test ! -e "$root/var/lib/admit"
check "config and drop-in deleted on purge" sh -c "test ! -e '$root/etc/admit' && test ! -e '$root/etc/systemd/system/admit-agent.service.d'"

# The fleet package: installs, its unit verifies.
if in_root apt-get install -y -q "/tmp/debs/$(basename "$fleet")" >"$work/fleet.log" 2>&1; then
	ok "apt install ./$(basename "$fleet")"
else
	tail -30 "$work/fleet.log"
	bad "apt install ./$(basename "$fleet")"
fi
check "admit-fleet -version runs" in_root admit-fleet -version
if in_root systemd-analyze verify admit-fleet.service >"$work/verify-fleet.log" 2>&1 && [ ! -s "$work/verify-fleet.log" ]; then
	ok "systemd-analyze verify admit-fleet.service (no findings)"
else
	cat "$work/verify-fleet.log"
	bad "systemd-analyze verify admit-fleet.service"
fi

echo "package-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
