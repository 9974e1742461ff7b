"""Rapport de relevés météo : nombre de mesures et température moyenne par station et par mois.

Usage : python rapport.py FICHIER.csv   (colonnes : station, horodatage, temperature_c)

Les horodatages arrivent dans des formats variés (ISO 8601, « 3 Mar 2025 14:00 »…) : c'est
python-dateutil qui les lit. Le tableau est mis en forme par tabulate. Ce fichier est fourni :
ne le modifiez pas, empaquetez-le.
"""

import csv
import sys
from collections import defaultdict

from dateutil import parser as dateparser
from tabulate import tabulate


def rapport(path: str) -> str:
    groupes = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as fh:
        for ligne in csv.DictReader(fh):
            valeur = (ligne.get("temperature_c") or "").strip()
            if not valeur:
                continue  # mesure manquante
            mois = dateparser.parse(ligne["horodatage"]).strftime("%Y-%m")
            groupes[(ligne["station"], mois)].append(float(valeur))
    lignes = [(station, mois, len(v), round(sum(v) / len(v), 2))
              for (station, mois), v in sorted(groupes.items())]
    return tabulate(lignes, headers=["station", "mois", "mesures", "moyenne_c"], tablefmt="github")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage : rapport.py FICHIER.csv", file=sys.stderr)
        return 2
    print(rapport(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
