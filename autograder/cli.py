"""``python -m autograder``: grade a lab folder, or list the labs and their checks.

Exit status: 0 every check passed, 1 some did not, 2 the grader itself could not
run or finish (no Docker, Docker lost mid-grading, unknown lab, unreadable folder).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Optional

from rich.console import Console

from . import registry, report
from .core import GraderUnavailable
from .runner import grade
from .sandbox import docker_client, run_cli, sweep


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder",
                                description="Correcteur automatique des TP de conteneurisation.")
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="noter le TP contenu dans DIR")
    check.add_argument("dir", type=Path)
    check.add_argument("--lab", help="numéro ou identifiant du TP (sinon : le nom du dossier)")
    check.add_argument("--json", action="store_true", help="une ligne JSON sur la sortie standard")
    check.add_argument("--hidden", type=Path, metavar="DIR",
                       help="ajouter les vérifications cachées de l'enseignant (dossier de modules)")
    lst = sub.add_parser("list", help="lister les TP et leurs vérifications")
    lst.add_argument("--json", action="store_true")
    pre = sub.add_parser("preflight", help="vérifier que Docker et Compose v2 répondent")
    pre.add_argument("--warn-only", action="store_true", help="avertir sans échouer")
    cells = sub.add_parser("nbgrader-cells", help="(ré)écrire les sections « Questions de cours » et "
                                                  "« Notation automatique » des énoncés (une cellule "
                                                  "nbgrader par question et par vérification)")
    cells.add_argument("--check", action="store_true",
                       help="ne rien écrire ; code 1 si un énoncé n'est pas à jour")
    for name in ("clean", "sweep"):
        sub.add_parser(name, help="supprimer tout ce qu'une correction interrompue a laissé "
                                  "(conteneurs, réseaux, volumes, images portant l'étiquette du correcteur)")
    return p


def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: the runner cleans up on the way out
    raise KeyboardInterrupt


def preflight(warn_only: bool, err: Console) -> int:
    """Docker engine and Compose v2 reachable? Exit 2 with a bilingual message otherwise."""
    try:
        docker_client()
        proc = run_cli(["docker", "compose", "version", "--short"], timeout=30)
        if proc.returncode != 0 or not proc.stdout.strip().lstrip("v").startswith("2"):
            raise GraderUnavailable(
                "Docker Compose v2 est introuvable (`docker compose version` échoue). Installez le "
                "plugin Compose v2 ; l'ancien `docker-compose` v1 n'est plus maintenu.",
                "Docker Compose v2 not found (`docker compose version` fails). Install the Compose v2 "
                "plugin; the old `docker-compose` v1 is end-of-life.")
    except GraderUnavailable as exc:
        if warn_only:
            err.print(f"[yellow]Attention :[/] {exc.fr}\n[dim]Warning: {exc.en}[/]")
            return 0
        raise
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    err = Console(stderr=True)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == "list":
            labs = registry.all_labs()
            if args.json:
                print(json.dumps(report.labs_json(labs), ensure_ascii=False, indent=1))
            else:
                report.render_list(labs)
            return 0
        if args.command == "nbgrader-cells":
            from .nbgrade import write_sections

            stale = write_sections(registry.REPO_ROOT / "labs", check_only=args.check)
            verb = "à régénérer" if args.check else "mis à jour"
            for path in stale:
                err.print(f"{verb} : {path}")
            return 1 if args.check and stale else 0
        if args.command == "preflight":
            return preflight(args.warn_only, err)
        if args.command in ("clean", "sweep"):
            removed = sweep(docker_client())
            err.print("Supprimé : " + ", ".join(f"{n} {k}" for k, n in removed.items()))
            return 0
        lab = registry.get_lab(args.lab) if args.lab else registry.lab_for_folder(args.dir)
        if args.hidden:
            from .hidden import extended

            lab = extended(lab, args.hidden)
        if not args.json:
            err.print(f"[bold]Correction du TP {lab.id}[/] dans {args.dir} …")
        result = grade(lab, args.dir)
        if args.json:
            report.to_json(result, sys.stdout)
        else:
            report.render(result)
        if result.incomplete:
            err.print("[bold red]Correction incomplète :[/] Docker a cessé de répondre. Relancez Docker, "
                      "puis `python -m autograder clean`, puis la correction.\n"
                      "[dim]Grading incomplete: the Docker daemon stopped answering.[/]")
            return 2
        return 0 if result.all_passed else 1
    except GraderUnavailable as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": exc.en, "error_fr": exc.fr}, ensure_ascii=False))
        err.print(f"[bold red]Correction impossible :[/] {exc.fr}\n[dim]Grading impossible: {exc.en}[/]")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]Correction interrompue ; les conteneurs du correcteur ont été supprimés.[/]")
        return 130
