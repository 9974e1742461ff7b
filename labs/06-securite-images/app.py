"""Petite application de données : elle collecte des relevés de capteurs et les résume.

TP 06 : vous ne modifiez pas ce fichier, vous durcissez l'image qui le contient.
Bibliothèque standard uniquement (aucun paquet à installer).

Configuration, par variables d'environnement (au lancement du conteneur, jamais dans l'image) :
- API_TOKEN      : le jeton exigé pour écrire (en-tête `Authorization: Bearer <jeton>`) ;
- API_TOKEN_FILE : ou bien le chemin d'un fichier qui contient ce jeton
                   (par défaut /run/secrets/api_token, l'emplacement des secrets Docker/Compose) ;
- DATA_DIR       : le dossier où l'application écrit sa base SQLite (par défaut /app/data) ;
- PORT           : le port HTTP (8000 par défaut).
"""

import hmac
import json
import os
import signal
import sqlite3
import statistics
import sys
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/app/data"))
DB_PATH = DATA_DIR / "releves.db"
PORT = int(os.environ.get("PORT", "8000"))


def jeton_attendu() -> str:
    """Le jeton d'API : variable API_TOKEN, sinon le fichier API_TOKEN_FILE (secret monté)."""
    if os.environ.get("API_TOKEN"):
        return os.environ["API_TOKEN"].strip()
    chemin = Path(os.environ.get("API_TOKEN_FILE", "/run/secrets/api_token"))
    try:
        return chemin.read_text().strip()
    except OSError:
        return ""


def connexion() -> sqlite3.Connection:
    """La base SQLite dans DATA_DIR (créée au besoin) : l'utilisateur doit pouvoir y écrire."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(DB_PATH, timeout=5)
    db.execute("CREATE TABLE IF NOT EXISTS releves "
               "(capteur TEXT NOT NULL, valeur REAL NOT NULL, recu_a TEXT NOT NULL)")
    return db


class Handler(BaseHTTPRequestHandler):
    server_version = "releves/1.0"

    def repondre(self, code: int, corps: dict) -> None:
        data = json.dumps(corps, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - nom imposé par http.server
        if self.path == "/health":
            return self.repondre(200, {"status": "ok"})
        if self.path == "/releves":
            try:
                with connexion() as db:
                    lignes = db.execute("SELECT capteur, valeur, recu_a FROM releves").fetchall()
            except (OSError, sqlite3.Error) as exc:
                return self.repondre(500, {"erreur": f"lecture impossible dans {DATA_DIR} : {exc}"})
            valeurs = [v for _, v, _ in lignes]
            return self.repondre(200, {
                "nb_releves": len(lignes),
                "moyenne": round(statistics.fmean(valeurs), 3) if valeurs else None,
                "releves": [{"capteur": c, "valeur": v, "recu_a": r} for c, v, r in lignes],
            })
        return self.repondre(404, {"erreur": "route inconnue"})

    def do_POST(self):  # noqa: N802
        if self.path != "/releves":
            return self.repondre(404, {"erreur": "route inconnue"})
        attendu = jeton_attendu()
        if not attendu:
            return self.repondre(503, {"erreur": "aucun jeton configuré (API_TOKEN ou API_TOKEN_FILE)"})
        recu = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(recu.encode(), attendu.encode()):
            return self.repondre(401, {"erreur": "jeton invalide"})
        try:
            longueur = int(self.headers.get("Content-Length", "0"))
            releve = json.loads(self.rfile.read(min(longueur, 65536)) or b"{}")
            capteur, valeur = str(releve["capteur"]), float(releve["valeur"])
        except (ValueError, KeyError, TypeError):
            return self.repondre(400, {"erreur": 'corps attendu : {"capteur": "...", "valeur": 1.5}'})
        try:
            with connexion() as db:
                db.execute("INSERT INTO releves VALUES (?, ?, ?)",
                           (capteur, valeur, datetime.now(timezone.utc).isoformat(timespec="seconds")))
        except (OSError, sqlite3.Error) as exc:
            # Typiquement « Permission denied » : l'utilisateur du conteneur ne peut pas écrire ici.
            print(f"écriture impossible dans {DATA_DIR} : {exc}", file=sys.stderr, flush=True)
            return self.repondre(500, {"erreur": f"écriture impossible dans {DATA_DIR} : {exc}"})
        return self.repondre(201, {"capteur": capteur, "valeur": valeur})

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


def _arreter(signum, frame):
    sys.exit(0)


# Dans un conteneur, ce processus est le PID 1 : sans gestionnaire, SIGTERM serait ignoré.
signal.signal(signal.SIGTERM, _arreter)


if __name__ == "__main__":
    print(f"releves : écoute sur 0.0.0.0:{PORT}, données dans {DATA_DIR} (uid {os.getuid()})", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
