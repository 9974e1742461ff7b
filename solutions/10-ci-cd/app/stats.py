"""Fonctions pures sur des relevés de température (CSV avec les colonnes station,temperature_c)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Iterable

# Au-delà, la valeur est une erreur de capteur.
VALID_RANGE = (-60.0, 60.0)


@dataclass(frozen=True)
class Reading:
    station: str
    temperature: float


def read_rows(lines: Iterable[str]) -> list[dict]:
    """Les lignes d'un CSV (avec en-tête) sous forme de dictionnaires."""
    return list(csv.DictReader(lines))


def clean(rows: Iterable[dict]) -> list[Reading]:
    """Garde les lignes dont la température est un nombre plausible (virgule décimale acceptée) ;
    le nom de station est débarrassé de ses espaces ; les lignes sans station sont écartées."""
    readings = []
    for row in rows:
        station = (row.get("station") or "").strip()
        raw = (row.get("temperature_c") or "").strip().replace(",", ".")
        if not station or not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if VALID_RANGE[0] <= value <= VALID_RANGE[1]:
            readings.append(Reading(station, value))
    return readings


def summary(values: Iterable[float]) -> dict:
    """Nombre de valeurs, moyenne (arrondie au centième), minimum et maximum.

    Lève ValueError si aucune valeur n'est fournie."""
    values = list(values)
    if not values:
        raise ValueError("aucune valeur")
    return {
        "n": len(values),
        "moyenne": round(sum(values) / len(values), 2),
        "min": min(values),
        "max": max(values),
    }


def alerts(readings: Iterable[Reading], threshold: float) -> list[str]:
    """Les stations (triées, sans doublon) qui ont au moins un relevé supérieur ou égal au seuil."""
    return sorted({r.station for r in readings if r.temperature >= threshold})
