"""Totaux d'un fichier de ventes, lu par blocs : la mémoire utilisée ne dépend pas de sa taille.

Usage : python traiter.py [FICHIER]   (par défaut /donnees/ventes.csv)
Colonnes attendues : id,region,produit,montant
Affiche une ligne par région puis `lignes=N total=X` (lue par le correcteur).
"""

import csv
import itertools
import os
import resource
import sys
from collections import defaultdict
from decimal import Decimal

BLOC = 5_000  # lignes lues à la fois


def blocs(lecteur, taille=BLOC):
    """Des listes d'au plus `taille` lignes : jamais tout le fichier en mémoire."""
    while True:
        bloc = list(itertools.islice(lecteur, taille))
        if not bloc:
            return
        yield bloc


def main() -> int:
    chemin = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FICHIER", "/donnees/ventes.csv")
    lignes, total, par_region = 0, Decimal(0), defaultdict(Decimal)
    with open(chemin, newline="", encoding="utf-8") as fichier:
        for bloc in blocs(csv.DictReader(fichier)):
            for vente in bloc:
                montant = Decimal(vente["montant"])
                lignes += 1
                total += montant
                par_region[vente["region"]] += montant
    for region, montant in sorted(par_region.items()):
        print(f"{region:<8} {montant:>14.2f}")
    pic = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # Kio -> Mio (Linux)
    print(f"mémoire maximale utilisée : {pic} Mio")
    print(f"lignes={lignes} total={total:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
