"""The scorecard: a rich table for people, one JSON object for machines."""

from __future__ import annotations

import json
from typing import Optional, TextIO

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .core import Lab, Report, Status

STYLE = {
    Status.PASSED: ("✔ réussi", "green"),
    Status.FAILED: ("✘ échoué", "red"),
    Status.SKIPPED: ("– non évalué", "yellow"),
    Status.ERROR: ("! erreur", "magenta"),
}


def render(report: Report, console: Optional[Console] = None) -> None:
    console = console or Console()
    table = Table(title=f"TP {report.lab} — {report.title}", box=box.SIMPLE_HEAVY, expand=True,
                  title_justify="left")
    table.add_column("Vérification", ratio=3, overflow="fold")
    table.add_column("Points", justify="right", no_wrap=True)
    table.add_column("État", no_wrap=True)
    for r in report.results:
        label, style = STYLE[r.status]
        table.add_row(Text(f"{r.title}\n", style="bold").append(r.id, style="dim"),
                      f"{_fmt(r.earned)}/{_fmt(r.points)}", Text(label, style=style))
    console.print(table)
    for r in report.results:
        if r.status is Status.PASSED or not r.message:
            continue
        label, style = STYLE[r.status]
        console.print(Panel(Text(r.message), title=f"{r.id} — {r.title}", title_align="left",
                            border_style=style, expand=True))
    for note in report.notes:
        console.print(Panel(Text(note), title="Remarque", border_style="yellow"))
    ratio = report.score / report.max_score if report.max_score else 0
    colour = "green" if report.all_passed else "yellow" if ratio >= 0.5 else "red"
    console.print(Text(f"Note : {_fmt(report.score)} / {_fmt(report.max_score)}   "
                       f"(correction en {report.duration_s:.1f} s)", style=f"bold {colour}"))


def to_json(report: Report, stream: TextIO) -> None:
    stream.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")


def render_list(labs: tuple[Lab, ...], console: Optional[Console] = None) -> None:
    console = console or Console()
    for lab in labs:
        table = Table(title=f"{lab.id} — {lab.title} ({_fmt(lab.max_score)} points)", box=box.SIMPLE,
                      title_justify="left", expand=True)
        table.add_column("Id", no_wrap=True)
        table.add_column("Vérification", ratio=3)
        table.add_column("Points", justify="right")
        table.add_column("Prérequis")
        for c in lab.checks:
            table.add_row(c.id, c.title, _fmt(c.points), ", ".join(c.requires))
        console.print(table)


def labs_json(labs: tuple[Lab, ...]) -> list[dict]:
    return [{"lab": lab.id, "title": lab.title, "max_score": lab.max_score, "files": list(lab.files),
             "checks": [{"id": c.id, "title": c.title, "points": c.points, "requires": list(c.requires),
                         "static": c.static} for c in lab.checks]} for lab in labs]


def _fmt(x: float) -> str:
    return f"{x:g}"
