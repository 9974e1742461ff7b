#!/usr/bin/env bash
# Install the docker buildx CLI plugin (BuildKit builds) from Debian's packages, for hosts whose
# docker CLI has none (Debian 12's docker.io, the CI machines). Docker Desktop and Docker's own
# Engine packages (docker-buildx-plugin) already have it: nothing to do there.
#
#   docker/buildx-plugin.sh [DEST_DIR]   (default /usr/local/lib/docker/cli-plugins)
#
# Takes docker-buildx from the suite DEBIAN_SUITE of DEBIAN_MIRROR, for this machine's architecture:
# by default forky (Debian testing: buildx 0.29, which needs only glibc >= 2.34, so it runs on
# Debian 12). Not trixie's 0.13: Compose 2.40 refuses to build with a buildx older than 0.17
# ("compose build requires buildx 0.17 or later").
set -euo pipefail
DEST="${1:-/usr/local/lib/docker/cli-plugins}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="${DEBIAN_SUITE:-forky}"

MIN_MINOR=17  # buildx 0.17, what Compose 2.40 needs to build
recent_enough() {  # buildx version (0.29.1+ds1, v0.17.0) >= 0.MIN_MINOR
	local major minor
	major="$(echo "$1" | sed 's/^v//' | cut -d. -f1)"
	minor="$(echo "$1" | cut -d. -f2)"
	[ "${major:-0}" -gt 0 ] 2>/dev/null || [ "${minor:-0}" -ge "$MIN_MINOR" ] 2>/dev/null
}
current="$(docker buildx version 2>/dev/null | awk '{print $2}')"
if [ -n "$current" ] && recent_enough "$current"; then
	echo "buildx already present: $(docker buildx version)"
	exit 0
fi
arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 "$MIRROR/dists/$SUITE/main/binary-$arch/Packages.xz" | xz -d >"$work/Packages"
file="$(awk '/^Package: docker-buildx$/{p=1} p && /^Filename:/{print $2; exit}' "$work/Packages")"
sum="$(awk '/^Package: docker-buildx$/{p=1} p && /^SHA256:/{print $2; exit}' "$work/Packages")"
[ -n "$file" ] || { echo "docker-buildx not found in $SUITE/$arch" >&2; exit 1; }
curl -fsSL --retry 3 -o "$work/buildx.deb" "$MIRROR/$file"
echo "$sum  $work/buildx.deb" | sha256sum -c --quiet -
dpkg-deb -x "$work/buildx.deb" "$work/x"
mkdir -p "$DEST"
# install beside, then rename: a build running with the old plugin keeps its file
install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-buildx" "$DEST/.docker-buildx.new"
mv -f "$DEST/.docker-buildx.new" "$DEST/docker-buildx"
echo "installed $(basename "$file") into $DEST: $(docker buildx version)"
