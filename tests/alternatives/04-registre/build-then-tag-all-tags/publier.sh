#!/bin/bash
set -e

registry=${REGISTRY:-localhost:5000}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -r version < "$here/VERSION"
sha=${CI_COMMIT_SHORT_SHA:-$(git -C "$here" rev-parse --short HEAD)}

publish() {
  docker build -t meteo \
    --label org.opencontainers.image.version="$version" \
    --label org.opencontainers.image.created="$(date -u --rfc-3339=seconds)" \
    --label org.opencontainers.image.source="https://github.com/4data/meteo" \
    "$here"
  for tag in "v$version" "sha-$sha" latest; do
    docker tag meteo "$registry/meteo:$tag"
  done
  docker push --all-tags "$registry/meteo"
  docker image ls "$registry/meteo"
}

publish
