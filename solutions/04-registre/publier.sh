#!/usr/bin/env bash
# Publie l'image de l'API météo dans un registre :
#   - une version sémantique lue dans le fichier VERSION (ex. 1.2.0),
#   - une étiquette immuable : le commit court (fourni par la CI, sinon lu dans git),
#   - jamais `latest` seul ;
# avec les labels OCI qui disent d'où vient l'image et quand elle a été construite.
#
# Usage : REGISTRY=localhost:5000 ./publier.sh
set -euo pipefail

cd "$(dirname "$0")"   # le contexte de build est le dossier du TP, d'où que l'on lance le script

REGISTRY="${REGISTRY:-localhost:5000}"
IMAGE="meteo"

VERSION="$(tr -d '[:space:]' < VERSION)"
if [[ ! "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
  echo "VERSION n'est pas une version sémantique (MAJEUR.MINEUR.CORRECTIF) : '$VERSION'" >&2
  exit 1
fi
# Étiquette immuable : la CI (GitLab) fournit CI_COMMIT_SHORT_SHA ; en local, git.
COMMIT="${CI_COMMIT_SHORT_SHA:-$(git rev-parse --short HEAD)}"
SOURCE="${CI_PROJECT_URL:-https://gitlab.com/4data/conteneurisation}"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"   # RFC 3339, en UTC

docker build \
  --label "org.opencontainers.image.version=${VERSION}" \
  --label "org.opencontainers.image.revision=${COMMIT}" \
  --label "org.opencontainers.image.source=${SOURCE}" \
  --label "org.opencontainers.image.created=${CREATED}" \
  --tag "${REGISTRY}/${IMAGE}:${VERSION}" \
  --tag "${REGISTRY}/${IMAGE}:${COMMIT}" \
  .

docker push "${REGISTRY}/${IMAGE}:${VERSION}"
docker push "${REGISTRY}/${IMAGE}:${COMMIT}"

echo "Publié : ${REGISTRY}/${IMAGE}:${VERSION} et ${REGISTRY}/${IMAGE}:${COMMIT}"
