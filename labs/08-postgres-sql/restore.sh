#!/bin/sh
# TODO 10 : restaurez le fichier "$1" dans la base (vide) du service db avec
#   docker compose exec -T db … psql … < "$1"
set -eu
echo "TODO" >&2
exit 1
