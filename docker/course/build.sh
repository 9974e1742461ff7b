#!/usr/bin/env bash
# docker/course/build.sh (`make course-image`): build the course container's image under the tag
# that docker/course/compose.yaml names. The build context is a temporary folder holding the
# Dockerfile, entrypoint.sh, the repository's requirements.txt and the extra CA certificates
# (docker/extra-ca.sh, EXTRA_CA_BUNDLE as for `make images`): nothing else of the repository (its
# .venv, build/) is sent to the daemon, and nothing is written into the repository.
#
# Environment:
#   EXTRA_CA_BUNDLE        see docker/extra-ca.sh (default: the host's bundle; "none")
#   COURSE_BUILD_TIMEOUT   seconds allowed to the build (default 1200)
#   COURSE_BUILD_ARGS      extra `docker build` arguments (e.g. --no-cache)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TIMEOUT="${COURSE_BUILD_TIMEOUT:-1200}"

if ! docker info >/dev/null 2>&1; then
	echo "[FAIL] aucun moteur Docker ne répond / no Docker engine answers" >&2
	exit 2
fi
image="$(COURSE_DIR="$ROOT" docker compose -f "$HERE/compose.yaml" config --images)"
case "$image" in
	*:*) version="${image##*:}" ;;
	*)
		echo "[FAIL] compose.yaml must name a tagged image, got: $image" >&2
		exit 1
		;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/course-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$HERE/Dockerfile" "$ROOT/requirements.txt" "$work/"
# runs inside a Linux container: LF endings and the executable bit, whatever the checkout
tr -d '\r' <"$HERE/entrypoint.sh" >"$work/entrypoint.sh"
chmod 0755 "$work/entrypoint.sh"
bash "$ROOT/docker/extra-ca.sh" "$work/extra-ca"

echo "[BUILD] $image (FROM python:3.13-slim; timeout ${TIMEOUT} s)"
start=$SECONDS
# shellcheck disable=SC2086 # COURSE_BUILD_ARGS is a list of words; --force-rm: no container left by a failed step
timeout "$TIMEOUT" docker build --pull=false --force-rm ${COURSE_BUILD_ARGS:-} \
	--build-arg COURSE_IMAGE="${image%:*}" --build-arg COURSE_IMAGE_VERSION="$version" \
	-t "$image" "$work"
size="$(docker image inspect -f '{{.Size}}' "$image")"
printf '[OK] %s built in %d s, %d MB\n' "$image" "$((SECONDS - start))" "$((size / 1000000))"
