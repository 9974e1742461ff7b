"""Tests de app/stats.py : ils tournent dans l'image construite par le pipeline."""

import pytest

from app.stats import Reading, alerts, clean, summary


# Fourni : un exemple de test.
def test_clean_keeps_plausible_numbers_only():
    rows = [
        {"station": " Nice ", "temperature_c": "31,2"},
        {"station": "Brest", "temperature_c": ""},
        {"station": "Lyon-Bron", "temperature_c": "999"},
        {"station": "", "temperature_c": "12"},
        {"station": "Paris", "temperature_c": "n/a"},
    ]
    assert clean(rows) == [Reading("Nice", 31.2)]


# TODO 4 : des tests de summary() (nombre de valeurs, moyenne arrondie, min, max, liste vide).
# TODO 5 : des tests de alerts() (seuil inclus, stations triées et sans doublon, aucune alerte).
# Le correcteur introduit des bugs dans ces deux fonctions : vos tests doivent les attraper.
