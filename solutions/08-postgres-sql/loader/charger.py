"""Charge un fichier CSV de mesures dans PostgreSQL.

Tous les réglages de connexion viennent de variables d'environnement : rien n'est
écrit en dur. Le mot de passe n'est jamais dans une variable : on lit le FICHIER
dont le chemin est dans DB_PASSWORD_FILE (un secret Compose monté dans
/run/secrets/), si bien qu'il n'apparaît pas dans `docker inspect`.
"""

import csv
import os
import sys

import psycopg2


def lire_secret(nom: str) -> str:
    with open(os.environ[nom], encoding="utf-8") as f:
        return f.read().strip()


def main() -> int:
    fichier = os.environ.get("CSV_FILE", "/data/mesures.csv")
    connexion = psycopg2.connect(
        host=os.environ["DB_HOST"],          # le nom du service (db), jamais localhost
        port=int(os.environ.get("DB_PORT", "5432")),
        dbname=os.environ["DB_NAME"],
        user=os.environ["DB_USER"],
        password=lire_secret("DB_PASSWORD_FILE"),
        connect_timeout=10,
    )
    with open(fichier, newline="", encoding="utf-8") as f:
        lignes = [(r["station"], r["jour"], r["temperature"]) for r in csv.DictReader(f)]
    # `with connexion` : une seule transaction, validée à la fin (ou annulée en cas d'erreur).
    with connexion, connexion.cursor() as cur:
        avant = _compter(cur)
        cur.executemany(
            # Idempotent : relancer le chargeur n'ajoute pas de doublons.
            "INSERT INTO mesures (station, jour, temperature) VALUES (%s, %s, %s) "
            "ON CONFLICT (station, jour) DO NOTHING",
            lignes,
        )
        apres = _compter(cur)
    connexion.close()
    print(f"{len(lignes)} lignes lues dans {fichier}, {apres - avant} nouvelles insérées")
    return 0


def _compter(cur) -> int:
    cur.execute("SELECT count(*) FROM mesures")
    return cur.fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
