"""API du lab 03 : elle vérifie qu'elle joint la base PostgreSQL.

Fichier fourni, à ne pas modifier. L'API lit l'adresse de la base dans ses
variables d'environnement (comme toute application configurée « à la 12-factor ») :

    DB_HOST  nom de la machine PostgreSQL, OBLIGATOIRE (le nom du service Compose)
    DB_PORT  port de PostgreSQL, 5432 par défaut

Elle écoute sur le port 8000 :

    GET /health   200 tant que le processus tourne (utilisé par le HEALTHCHECK)
    GET /db       200 si PostgreSQL répond à DB_HOST:DB_PORT, 503 sinon (JSON)

Pour « joindre » la base, l'API ouvre une connexion TCP et demande à PostgreSQL
s'il parle TLS (message SSLRequest) : un serveur PostgreSQL répond « S » ou « N ».
Pas besoin de mot de passe ni de bibliothèque, seulement la bibliothèque standard.
"""

import json
import os
import signal
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 8000
DB_HOST = os.environ.get("DB_HOST", "").strip()
DB_PORT = int(os.environ.get("DB_PORT", "5432") or 5432)
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
# A name the embedded DNS does not know is forwarded to the host's resolvers, which may take
# long to answer: /db answers within this many seconds whatever happens.
CHECK_TIMEOUT_S = 3.0


def check_db() -> dict:
    """Joindre PostgreSQL à DB_HOST:DB_PORT ; le résultat en dictionnaire."""
    result = {"db_host": DB_HOST, "db_port": DB_PORT, "reachable": False}
    try:
        infos = socket.getaddrinfo(DB_HOST, DB_PORT, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        result["error"] = f"nom « {DB_HOST} » introuvable ({exc.strerror})"
        return result
    result["address"] = infos[0][4][0]
    try:
        with socket.create_connection((DB_HOST, DB_PORT), timeout=2) as conn:
            conn.settimeout(2)
            conn.sendall(SSL_REQUEST)
            answer = conn.recv(1)
    except OSError as exc:
        result["error"] = f"connexion à {DB_HOST}:{DB_PORT} impossible ({exc.strerror or exc})"
        return result
    if answer not in (b"S", b"N"):
        result["error"] = f"{DB_HOST}:{DB_PORT} répond, mais ce n'est pas PostgreSQL"
        return result
    result["reachable"] = True
    return result


def check_db_within(limit: float = CHECK_TIMEOUT_S) -> dict:
    """check_db(), mais jamais plus de ``limit`` secondes (résolution DNS comprise)."""
    box: dict = {}
    worker = threading.Thread(target=lambda: box.update(check_db()), daemon=True)
    worker.start()
    worker.join(limit)
    if "reachable" not in box:
        return {"db_host": DB_HOST, "db_port": DB_PORT, "reachable": False,
                "error": f"pas de réponse de {DB_HOST}:{DB_PORT} en {limit:g} s (nom introuvable ?)"}
    return dict(box)


class Handler(BaseHTTPRequestHandler):
    server_version = "lab03-api"

    def do_GET(self) -> None:
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path == "/db":
            result = check_db_within()
            self.reply(200 if result["reachable"] else 503, result)
        else:
            self.reply(404, {"error": "routes : /health, /db"})

    def reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting

    def log_message(self, fmt, *args) -> None:
        if self.path != "/health":  # the healthcheck would flood the logs
            sys.stderr.write("api: %s\n" % (fmt % args))


def main() -> None:
    if not DB_HOST:
        sys.exit("api: la variable d'environnement DB_HOST n'est pas définie. Donnez-lui le nom "
                 "du service de la base dans compose.yaml (environment: DB_HOST: ...).")
    # PID 1 in a container: without a handler, SIGTERM is ignored and `docker stop` waits 10 s.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"api: écoute sur 0.0.0.0:{PORT}, base attendue sur {DB_HOST}:{DB_PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
