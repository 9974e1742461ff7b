"""``python -m autograder``: grade a lab folder, or list the labs and their checks.

Exit status: 0 every check passed, 1 some did not, 2 the grader itself could not
run (no Docker, unknown lab, unreadable folder).
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder",
                                description="Correcteur automatique des TP de conteneurisation.")
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="noter le TP contenu dans DIR")
    check.add_argument("dir", type=Path)
    check.add_argument("--lab", help="numéro ou identifiant du TP (sinon : le nom du dossier)")
    check.add_argument("--json", action="store_true", help="une ligne JSON sur la sortie standard")
    lst = sub.add_parser("list", help="lister les TP et leurs vérifications")
    lst.add_argument("--json", action="store_true")
    return p


def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: the runner cleans up on the way out
    raise KeyboardInterrupt


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
        lab = registry.get_lab(args.lab) if args.lab else registry.lab_for_folder(args.dir)
        if not args.json:
            err.print(f"[bold]Correction du TP {lab.id}[/] dans {args.dir} …")
        result = grade(lab, args.dir)
        if args.json:
            report.to_json(result, sys.stdout)
        else:
            report.render(result)
        return 0 if result.all_passed else 1
    except GraderUnavailable as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": exc.en, "error_fr": exc.fr}, ensure_ascii=False))
        err.print(f"[bold red]Correction impossible :[/] {exc.fr}\n[dim]Grading impossible: {exc.en}[/]")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]Correction interrompue ; les conteneurs du correcteur ont été supprimés.[/]")
        return 130
