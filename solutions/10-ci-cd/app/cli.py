"""python -m app.cli RELEVES.csv [--seuil 30] : résumé des relevés et stations en alerte."""

from __future__ import annotations

import argparse
import sys

from .stats import alerts, clean, read_rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("fichier", help="CSV avec les colonnes station,temperature_c")
    parser.add_argument("--seuil", type=float, default=30.0, help="seuil d'alerte en °C (inclus)")
    args = parser.parse_args(argv)
    with open(args.fichier, encoding="utf-8", newline="") as handle:
        readings = clean(read_rows(handle))
    if not readings:
        print("aucun relevé valide", file=sys.stderr)
        return 1
    stats = summary(r.temperature for r in readings)
    print(f"{stats['n']} relevés ; moyenne {stats['moyenne']} °C ; min {stats['min']} ; max {stats['max']}")
    stations = alerts(readings, args.seuil)
    print(f"alertes (>= {args.seuil} °C) : {', '.join(stations) or 'aucune'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
