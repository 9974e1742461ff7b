#!/bin/sh
# Restaure une sauvegarde (faite par backup.sh) dans la base du service db, vide.
set -eu
fichier="${1:-sauvegarde.sql}"
test -s "$fichier" || { echo "sauvegarde introuvable ou vide : $fichier" >&2; exit 1; }
# ON_ERROR_STOP : s'arrêter (code 3) à la première erreur au lieu de continuer.
docker compose exec -T db sh -c 'psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"' < "$fichier"
echo "sauvegarde $fichier restaurée"
