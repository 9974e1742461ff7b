"""Petite API web de données : les dernières mesures d'un capteur.

TP 01 : vous ne modifiez pas ce fichier, vous le conteneurisez.
"""

import os
import signal
import sys
from datetime import datetime, timezone

from flask import Flask, jsonify

app = Flask(__name__)

# Quelques mesures d'un capteur de température, comme en produirait un pipeline d'ingestion.
MESURES = [
    {"horodatage": "2025-01-15T08:00:00Z", "temperature_c": 4.2, "humidite_pct": 81},
    {"horodatage": "2025-01-15T09:00:00Z", "temperature_c": 5.1, "humidite_pct": 78},
    {"horodatage": "2025-01-15T10:00:00Z", "temperature_c": 6.8, "humidite_pct": 72},
]


@app.get("/health")
def health():
    """Sonde de santé : répond 200 tant que le processus tourne."""
    return jsonify(status="ok")


@app.get("/")
def index():
    """Les mesures du capteur, avec un petit résumé calculé à la volée."""
    temperatures = [m["temperature_c"] for m in MESURES]
    return jsonify(
        capteur="station-meteo-01",
        nb_mesures=len(MESURES),
        temperature_moyenne_c=round(sum(temperatures) / len(temperatures), 2),
        mesures=MESURES,
        servi_a=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _arreter(signum, frame):
    sys.exit(0)


# Dans un conteneur, ce processus est le PID 1 : le noyau n'applique pas l'action par
# défaut des signaux au PID 1, donc un SIGTERM sans gestionnaire serait ignoré et
# `docker stop` attendrait 10 s avant de tuer le conteneur (SIGKILL). On quitte proprement.
signal.signal(signal.SIGTERM, _arreter)


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "8000")))
