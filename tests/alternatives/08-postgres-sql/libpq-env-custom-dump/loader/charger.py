"""Chargeur : libpq lit PGHOST, PGDATABASE, PGUSER ; le mot de passe vient d'un fichier."""
import os
import sys

import psycopg2

with open(os.environ["PGPASSWORD_FILE"], encoding="utf-8") as f:
    password = f.read().strip()

conn = psycopg2.connect(password=password)
with conn, conn.cursor() as cur, open(sys.argv[1], encoding="utf-8") as csv:
    cur.execute("CREATE TEMP TABLE arrivee (LIKE mesures) ON COMMIT DROP")
    cur.copy_expert("COPY arrivee FROM STDIN WITH (FORMAT csv, HEADER true)", csv)
    cur.execute("INSERT INTO mesures SELECT * FROM arrivee ON CONFLICT DO NOTHING")
    print(f"{cur.rowcount} nouvelles lignes")
conn.close()
