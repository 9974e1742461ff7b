"""Des tests qui appellent le code sans rien vérifier."""

from app.stats import Reading, alerts, clean, summary


def test_clean_keeps_plausible_numbers_only():
    rows = [{"station": " Nice ", "temperature_c": "31,2"}, {"station": "Brest", "temperature_c": ""}]
    assert clean(rows) == [Reading("Nice", 31.2)]


def test_summary_runs():
    summary([10.0, 20.0, 30.0])


def test_alerts_runs():
    alerts([Reading("Nice", 31.0)], 30.0)
