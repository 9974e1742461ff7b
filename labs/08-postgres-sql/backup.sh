#!/bin/sh
# TODO 9 : sauvegardez la base du service db dans le fichier "$1" avec
#   docker compose exec -T db … pg_dump …
set -eu
echo "TODO" >&2
exit 1
