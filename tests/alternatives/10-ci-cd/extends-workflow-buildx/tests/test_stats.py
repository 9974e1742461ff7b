import pytest

from app.stats import Reading, alerts, clean, summary


def test_clean_keeps_plausible_numbers_only():
    rows = [
        {"station": " Nice ", "temperature_c": "31,2"},
        {"station": "Brest", "temperature_c": ""},
        {"station": "Lyon-Bron", "temperature_c": "999"},
        {"station": "", "temperature_c": "12"},
        {"station": "Paris", "temperature_c": "n/a"},
    ]
    assert clean(rows) == [Reading("Nice", 31.2)]


@pytest.mark.parametrize("values, expected", [
    ([1.0, 2.0, 6.0], {"n": 3, "moyenne": 3.0, "min": 1.0, "max": 6.0}),
    ([-5.5], {"n": 1, "moyenne": -5.5, "min": -5.5, "max": -5.5}),
])
def test_summary(values, expected):
    assert summary(values) == expected


@pytest.mark.parametrize("threshold, expected", [(25.0, ["Ajaccio", "Nice"]), (40.0, []), (10.0, ["Ajaccio", "Brest", "Nice"])])
def test_alerts(threshold, expected):
    readings = [Reading("Nice", 31.0), Reading("Brest", 12.0), Reading("Ajaccio", 25.0)]
    assert alerts(readings, threshold) == expected
