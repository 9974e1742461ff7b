"""API météo minimale (bibliothèque standard uniquement) : l'image que publie ce TP.

Routes : GET /health -> {"status": "ok"} ; GET / -> les dernières mesures du capteur.
Écoute sur 0.0.0.0, port 8000 (variable PORT).
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESURES = [
    {"station": "lyon-bron", "heure": "06:00", "temperature_c": 11.2},
    {"station": "lyon-bron", "heure": "12:00", "temperature_c": 17.8},
    {"station": "lyon-bron", "heure": "18:00", "temperature_c": 15.1},
]


class Handler(BaseHTTPRequestHandler):
    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - nom imposé par http.server
        if self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path == "/":
            moyenne = sum(m["temperature_c"] for m in MESURES) / len(MESURES)
            self._json(200, {"mesures": MESURES, "moyenne_c": round(moyenne, 1)})
        else:
            self._json(404, {"erreur": "route inconnue"})

    def log_message(self, fmt: str, *args) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    # PID 1 d'un conteneur : sans gestionnaire, SIGTERM est ignoré et `docker stop` attend 10 s.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"API météo à l'écoute sur le port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
