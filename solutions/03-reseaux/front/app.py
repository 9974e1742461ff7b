"""Front web du lab 03 : une page qui interroge l'API.

Fichier fourni, à ne pas modifier. Le front écoute sur le port 8080 et joint
l'API à l'adresse API_URL (variable d'environnement, http://api:8000 par défaut :
le nom du service Compose « api »).

    GET /         page HTML : l'API répond-elle ? joint-elle la base ?
    GET /status   la même chose en JSON
    GET /health   200 tant que le processus tourne (utilisé par le HEALTHCHECK)
"""

import html
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 8080
API_URL = os.environ.get("API_URL", "http://api:8000").rstrip("/")


def status() -> dict:
    """Ce que l'API répond sur /db (ou pourquoi elle ne répond pas)."""
    try:
        with urllib.request.urlopen(f"{API_URL}/db", timeout=5) as resp:
            return {"api": "ok", "db": json.load(resp)}
    except urllib.error.HTTPError as exc:  # the API answered (503: no database)
        try:
            return {"api": "ok", "db": json.load(exc)}
        except ValueError:
            return {"api": f"HTTP {exc.code}", "db": None}
    except (OSError, ValueError) as exc:
        return {"api": f"injoignable à {API_URL} ({getattr(exc, 'reason', exc)})", "db": None}


PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Lab 03 — réseaux</title></head>
<body>
<h1>Lab 03 — communication entre conteneurs</h1>
<ul>
<li>front → API ({api_url}) : {api}</li>
<li>API → base : {db}</li>
</ul>
</body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "lab03-front"

    def do_GET(self) -> None:
        if self.path == "/health":
            self.reply(200, "application/json", json.dumps({"status": "ok"}))
        elif self.path == "/status":
            self.reply(200, "application/json", json.dumps(status(), ensure_ascii=False))
        elif self.path == "/":
            s = status()
            db = s["db"] or {}
            db_text = ("oui" if db.get("reachable") else f"non ({db.get('error', 'API injoignable')})")
            page = PAGE.format(api_url=html.escape(API_URL), api=html.escape("oui" if s["api"] == "ok"
                                                                             else f"non ({s['api']})"),
                               db=html.escape(db_text))
            self.reply(200, "text/html", page)
        else:
            self.reply(404, "text/plain", "routes : /, /status, /health")

    def reply(self, status_code: int, kind: str, text: str) -> None:
        body = text.encode()
        self.send_response(status_code)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting

    def log_message(self, fmt, *args) -> None:
        if self.path != "/health":  # the healthcheck would flood the logs
            sys.stderr.write("front: %s\n" % (fmt % args))


def main() -> None:
    # PID 1 in a container: without a handler, SIGTERM is ignored and `docker stop` waits 10 s.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"front: écoute sur 0.0.0.0:{PORT}, API attendue à {API_URL}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
