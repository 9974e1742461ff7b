#!/bin/sh
set -eu
cd "$(dirname "$0")"

: "${REGISTRY:=localhost:5000}"
version=$(cat VERSION | tr -d ' \n\r')
commit=${CI_COMMIT_SHORT_SHA:-$(git rev-parse --short HEAD)}
image="$REGISTRY/meteo"

docker build \
  --build-arg VERSION="$version" \
  --build-arg CREATED="$(date -u -Iseconds)" \
  -t "$image:$version" .
docker tag "$image:$version" "$image:$commit"

for tag in "$version" "$commit"; do
  docker push "$image:$tag"
done
