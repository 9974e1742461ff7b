#!/bin/sh
# Sauvegarde la base du service db dans le fichier donné (sauvegarde.sql par défaut).
# -T : pas de pseudo-terminal, sinon la sortie serait corrompue (\r\n) et la
# commande échouerait sans terminal (CI, cron, correcteur).
set -eu
fichier="${1:-sauvegarde.sql}"
docker compose exec -T db sh -c 'pg_dump --no-owner --no-privileges -U "$POSTGRES_USER" -d "$POSTGRES_DB"' > "$fichier"
echo "sauvegarde écrite dans $fichier"
