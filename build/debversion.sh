#!/usr/bin/env bash
# build/debversion.sh: the Debian version of this checkout, from git as
# the binaries' -version (git describe) is: on a tag v1.2.3, 1.2.3; 4
# commits past it, 1.2.3+4.gabc1234; with no tag, 0~gitYYYYMMDDhhmmss.abc1234
# (the commit's time, UTC, so that later commits sort later); local
# changes add +dirty.
set -euo pipefail
sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
if ! git diff --quiet HEAD -- 2>/dev/null; then
	dirty="+dirty"
fi
if tag=$(git describe --tags --abbrev=0 2>/dev/null) && [[ "${tag#v}" =~ ^[0-9][0-9A-Za-z.+~]*$ ]]; then
	n=$(git rev-list --count "$tag..HEAD")
	if [ "$n" -eq 0 ]; then
		echo "${tag#v}$dirty"
	else
		echo "${tag#v}+$n.g$sha$dirty"
	fi
else
	when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null || echo 0)
	echo "0~git$when.$sha$dirty"
fi
