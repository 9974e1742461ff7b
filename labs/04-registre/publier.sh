#!/usr/bin/env bash
# Publie l'image de l'API météo dans un registre. À compléter : suivez les TODO.
#
# Contrat (voir enonce.ipynb) :
#   - le registre est donné par la variable REGISTRY (localhost:5000 par défaut) ;
#   - l'image s'appelle meteo ;
#   - deux étiquettes : la version lue dans le fichier VERSION, et une étiquette immuable,
#     le commit court : ${CI_COMMIT_SHORT_SHA:-$(git rev-parse --short HEAD)} ;
#   - les labels OCI org.opencontainers.image.version / .source / .created ;
#   - les deux étiquettes sont poussées dans le registre.
#
# Usage : REGISTRY=localhost:5000 ./publier.sh
set -euo pipefail

cd "$(dirname "$0")"   # le contexte de build est le dossier du TP, d'où que l'on lance le script

REGISTRY="${REGISTRY:-localhost:5000}"
IMAGE="meteo"

# TODO 1 : lire la version dans le fichier VERSION (sans espace ni saut de ligne).
VERSION="TODO"

# TODO 2 : l'étiquette immuable (commit court), fournie par la CI ou lue dans git.
COMMIT="TODO"

# TODO 3 : la date de construction au format RFC 3339, en UTC (ex. 2025-01-31T12:00:00Z).
CREATED="TODO"

# TODO 4 : construire l'image avec les labels OCI et les deux étiquettes
#          ${REGISTRY}/${IMAGE}:${VERSION} et ${REGISTRY}/${IMAGE}:${COMMIT}.
#          Ce que montrent les diapos (docker tag mon_image localhost:5000/mon_image) ne suffit pas :
#          sans étiquette explicite, c'est `latest`.

# TODO 5 : pousser les deux étiquettes.

echo "TODO : publier.sh n'est pas encore écrit (voir enonce.ipynb)" >&2
exit 1
