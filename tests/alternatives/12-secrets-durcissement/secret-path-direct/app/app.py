"""Petite API de notes, prévue pour tourner dans un conteneur durci.

- Le mot de passe de la base n'est JAMAIS dans une variable d'environnement : on lit le
  fichier dont le chemin est dans DB_PASSWORD_FILE (un secret Compose monté dans
  /run/secrets/). Il n'apparaît donc ni dans `docker inspect`, ni dans /proc/1/environ.
- Le système de fichiers du conteneur est en lecture seule : l'application n'écrit que
  dans /tmp (un tmpfs), pour ses fichiers temporaires.

Routes : GET /sante (SELECT 1 dans la base), POST /notes (corps = texte de la note),
GET /notes (JSON), GET /notes.csv (export, écrit d'abord dans un fichier temporaire).
"""

import csv
import json
import os
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

TMP = os.environ.get("TMPDIR", "/tmp")


def lire_secret(variable: str, defaut: str) -> str:
    """Le contenu du fichier secret (chemin dans `variable`), sans le saut de ligne final."""
    chemin = os.environ.get(variable, defaut)
    with open(chemin, encoding="utf-8") as f:
        return f.read().strip()


def connexion():
    return psycopg2.connect(
        host=os.environ.get("DB_HOST", "db"),       # le nom du service, jamais localhost
        port=int(os.environ.get("DB_PORT", "5432")),
        dbname=os.environ.get("DB_NAME", "notes"),
        user=os.environ.get("DB_USER", "notes"),
        password=open("/run/secrets/db_password", encoding="utf-8").read().strip(),
        connect_timeout=3,
    )


def requete(sql: str, params=(), lire: bool = True):
    with connexion() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, texte text NOT NULL, "
                    "creee timestamptz NOT NULL DEFAULT now())")
        cur.execute(sql, params)
        return cur.fetchall() if lire else None


class Handler(BaseHTTPRequestHandler):
    def repondre(self, code: int, corps, type_="application/json") -> None:
        data = corps if isinstance(corps, bytes) else json.dumps(corps, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", f"{type_}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        try:
            if self.path == "/sante":
                requete("SELECT 1")
                self.repondre(200, {"statut": "ok", "base": "ok"})
            elif self.path == "/notes":
                lignes = requete("SELECT id, texte FROM notes ORDER BY id")
                self.repondre(200, [{"id": i, "texte": t} for i, t in lignes])
            elif self.path == "/notes.csv":
                lignes = requete("SELECT id, texte, creee FROM notes ORDER BY id")
                # Un vrai fichier temporaire : il lui faut un dossier inscriptible (le tmpfs /tmp).
                with tempfile.TemporaryFile("w+", dir=TMP, newline="", encoding="utf-8") as f:
                    csv.writer(f).writerows([("id", "texte", "creee"), *lignes])
                    f.seek(0)
                    self.repondre(200, f.read().encode(), "text/csv")
            else:
                self.repondre(404, {"erreur": "route inconnue"})
        except psycopg2.Error as exc:
            self.repondre(503, {"statut": "erreur", "base": str(exc).strip()})

    def do_POST(self) -> None:
        if self.path != "/notes":
            self.repondre(404, {"erreur": "route inconnue"})
            return
        taille = int(self.headers.get("Content-Length") or 0)
        texte = self.rfile.read(min(taille, 10_000)).decode("utf-8", "replace").strip()
        if not texte:
            self.repondre(400, {"erreur": "note vide"})
            return
        try:
            (ident,), = requete("INSERT INTO notes (texte) VALUES (%s) RETURNING id", (texte,))
            self.repondre(201, {"id": ident, "texte": texte})
        except psycopg2.Error as exc:
            self.repondre(503, {"statut": "erreur", "base": str(exc).strip()})

    def log_message(self, fmt, *args) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


def verifier_tmp() -> None:
    """Échoue tout de suite, avec un message clair, si /tmp n'est pas inscriptible."""
    try:
        with tempfile.TemporaryFile(dir=TMP):
            pass
    except OSError as exc:
        sys.exit(f"{TMP} n'est pas inscriptible ({exc}) : avec `read_only: true`, montez un tmpfs "
                 f"(`tmpfs: [{TMP}]`).")


if __name__ == "__main__":
    verifier_tmp()
    port = int(os.environ.get("PORT", "8000"))
    print(f"API des notes sur le port {port} (utilisateur {os.getuid()})", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
