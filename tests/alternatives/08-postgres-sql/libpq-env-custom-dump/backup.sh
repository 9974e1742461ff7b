#!/usr/bin/env bash
set -euo pipefail
docker compose exec -T db bash -c 'pg_dump -Fc -U "$POSTGRES_USER" "$POSTGRES_DB"' > "${1:?usage: backup.sh FICHIER}"
