#!/bin/sh
# Script de démarrage : on peut préparer des choses ici, puis `exec` remplace le shell
# par python, qui devient le PID 1 et reçoit donc le SIGTERM de `docker stop`.
set -eu
echo "Démarrage de l'API sur le port ${PORT:-8000}"
exec python app.py "$@"
