#!/usr/bin/env bash
set -euo pipefail
docker compose exec -T db bash -c 'pg_restore --no-owner --exit-on-error -U "$POSTGRES_USER" -d "$POSTGRES_DB"' < "${1:?usage: restore.sh FICHIER}"
