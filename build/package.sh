#!/usr/bin/env bash
# build/package.sh ARCH BINDIR OUTDIR: the Debian packages admit-agent,
# admit-fleet and admitctl (ARCH amd64 or arm64) from the binaries in
# BINDIR (build/dist.sh), with dpkg-deb: binaries, systemd units, default
# config in /etc/admit (conffiles), board files, maintainer scripts from
# build/debian/. Depends: is derived from the binaries' NEEDED libraries:
# dpkg-shlibdeps for amd64 (this machine's packages), build/shlibdeps.sh
# over the arm64 sysroot's shlibs files for arm64. The version is
# $DEB_VERSION, else build/debversion.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: build/package.sh ARCH BINDIR OUTDIR}
bindir=${2:?usage: build/package.sh ARCH BINDIR OUTDIR}
out=${3:?usage: build/package.sh ARCH BINDIR OUTDIR}
version=${DEB_VERSION:-$(build/debversion.sh)}
maintainer="admit maintainers <maintainers@admit.example.org>"
src=build/debian
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out"

# depends BINARY...: the shared-library dependencies of the binaries.
depends() {
	case "$arch" in
	amd64)
		mkdir -p "$stage/shlibs/debian"
		printf 'Source: admit\n\nPackage: admit\nArchitecture: any\n' >"$stage/shlibs/debian/control"
		(cd "$stage/shlibs" && dpkg-shlibdeps -O --warnings=0 "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
		;;
	arm64) build/shlibdeps.sh .cache/sysroot-arm64 "$@" ;;
	esac
}

# pkg NAME DESCRIPTION LONG: builds NAME_VERSION_ARCH.deb from the tree
# in $stage/NAME (files laid out by the caller).
pkg() {
	local name=$1 short=$2 long=$3 root="$stage/$1"
	local bins=("$root"/usr/bin/*)
	local deps
	deps=$(depends "$(realpath "${bins[@]}")")
	[ -n "$deps" ] || { echo "package: no Depends derived for $name" >&2; exit 1; }
	[ -n "${extra_depends:-}" ] && deps="$deps, $extra_depends"

	install -d "$root/usr/share/doc/$name" "$root/DEBIAN"
	install -m 0644 "$src/copyright" "$root/usr/share/doc/$name/copyright"
	[ "$name" = admitctl ] || install -m 0644 "$src/README.Debian" "$root/usr/share/doc/$name/README.Debian"
	{
		echo "$name ($version) unstable; urgency=medium"
		echo
		echo "  * Built from admit $(git describe --tags --always --dirty 2>/dev/null || echo unknown)."
		echo
		echo " -- $maintainer  $(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
	} | gzip -9n >"$root/usr/share/doc/$name/changelog.gz"
	chmod 0644 "$root/usr/share/doc/$name/changelog.gz"
	for script in postinst prerm postrm; do
		[ -f "$src/$name.$script" ] && install -m 0755 "$src/$name.$script" "$root/DEBIAN/$script"
	done
	if [ -d "$root/etc" ]; then
		(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
		chmod 0644 "$root/DEBIAN/conffiles"
	fi
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"
	chmod 0644 "$root/DEBIAN/md5sums"
	cat >"$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $deps
Section: net
Priority: optional
Description: $short
$long
CONTROL
	local deb="$out/${name}_${version}_${arch}.deb"
	dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
	echo "package: $deb" >&2
}

# admit-agent
r="$stage/admit-agent"
install -D -m 0755 "$bindir/admit-agent" "$r/usr/bin/admit-agent"
install -D -m 0644 "$src/admit-agent.service" "$r/lib/systemd/system/admit-agent.service"
install -D -m 0644 "$src/agent.json" "$r/etc/admit/agent.json"
install -d "$r/usr/share/admit/boards"
install -m 0644 build/boards/*.json "$r/usr/share/admit/boards/"
extra_depends="adduser" pkg admit-agent "admit gate agent: offline-first ticket scanning at a turnstile" \
" The scanner agent of admit runs at a gate: it reads tickets from a
 camera (QR, PDF417, Aztec, Data Matrix), NFC readers and USB scanners,
 decides locally against a replica of the event's allowlist, journals
 every decision before it opens the turnstile, and replicates with the
 admit fleet. A gate without an identity enrolls by being shown the
 enrollment QR code of its fleet."

# admit-fleet
r="$stage/admit-fleet"
install -D -m 0755 "$bindir/admit-fleet" "$r/usr/bin/admit-fleet"
install -D -m 0644 "$src/admit-fleet.service" "$r/lib/systemd/system/admit-fleet.service"
install -D -m 0644 "$src/fleet.json" "$r/etc/admit/fleet.json"
extra_depends="adduser" pkg admit-fleet "admit fleet node: tickets, gates and the operators' console" \
" The fleet manager of admit issues signed tickets, replicates them to
 the gates over WebSocket, records every scan the gates send back, fans
 used marks out to the other gates and serves the operators' console,
 over HTTPS with its own CA. It keeps its data in SQLite, or shares a
 PostgreSQL database with other nodes."

# admitctl
r="$stage/admitctl"
install -D -m 0755 "$bindir/admitctl" "$r/usr/bin/admitctl"
extra_depends="" pkg admitctl "admit operator's tool" \
" admitctl talks to an admit fleet with an API token: issues tickets,
 makes enrollment codes and their QR images for gates, lists scans,
 manages operators and API tokens, reads the audit log. Offline, it
 checks ticket codes and programs NTAG 424 DNA ticket tags through a
 PN532."
