"""Charge data/mesures.csv dans la table mesures.

TODO 4 : lisez TOUS les réglages dans l'environnement (os.environ) : hôte (le nom
du service, pas localhost), base, utilisateur ; le mot de passe dans le FICHIER
nommé par DB_PASSWORD_FILE. Insérez chaque ligne avec
`INSERT … ON CONFLICT (station, jour) DO NOTHING` (idempotent), puis validez.
"""

import csv
import os
import sys

import psycopg2


def main() -> int:
    fichier = os.environ.get("CSV_FILE", "/data/mesures.csv")
    with open(fichier, newline="", encoding="utf-8") as f:
        lignes = [(r["station"], r["jour"], r["temperature"]) for r in csv.DictReader(f)]
    # TODO 4 : connexion psycopg2.connect(...) puis les INSERT.
    print(f"{len(lignes)} lignes lues, rien inséré (TODO)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
