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


def test_summary_counts_every_value():
    assert summary([10.0, 20.0, 30.0]) == {"n": 3, "moyenne": 20.0, "min": 10.0, "max": 30.0}


def test_summary_single_value():
    assert summary([4.5]) == {"n": 1, "moyenne": 4.5, "min": 4.5, "max": 4.5}


def test_summary_rounds_mean():
    assert summary([1.0, 2.0, 2.0])["moyenne"] == 1.67


def test_summary_refuses_empty_input():
    with pytest.raises(ValueError):
        summary([])


def test_alerts_threshold_is_inclusive_and_sorted():
    readings = [Reading("Nice", 31.0), Reading("Brest", 12.0), Reading("Ajaccio", 30.0),
                Reading("Nice", 33.0)]
    assert alerts(readings, 30.0) == ["Ajaccio", "Nice"]


def test_alerts_none_above_threshold():
    assert alerts([Reading("Brest", 12.0)], 30.0) == []
