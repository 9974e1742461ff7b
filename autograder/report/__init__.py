"""Reports of a grading: the scorecard here (a rich table for people, one JSON object for machines), JUnit XML, progress lines."""

from __future__ import annotations

import json
from typing import Optional, TextIO

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from autograder.core import Lab, Report, Status

STYLE = {
    Status.PASSED: ("✔ réussi", "green"),
    Status.FAILED: ("✘ échoué", "red"),
    Status.SKIPPED: ("– non évalué", "yellow"),
    Status.ERROR: ("! erreur", "magenta"),
}
ABSENT = ("○ rien à évaluer encore", "blue")


def _state(r) -> tuple[str, str]:
    """The label and colour of a result: a check whose subject is absent is told apart."""
    return ABSENT if r.absent else STYLE[r.status]


# Below this width the scorecard is stacked (one block per check) instead of a table: a table's
# columns would fold check ids and titles mid-word.
NARROW = 70


def render(report: Report, console: Optional[Console] = None) -> None:
    """Print the scorecard: a table on a wide console, one block per check on a narrow one (a
    terminal under :data:`NARROW` columns, a phone's SSH client); JupyterLab renders either."""
    console = console or Console()
    if console.width < NARROW:
        _stacked(report, console)
    else:
        _table(report, console)
    for r in report.results:
        if r.status is Status.PASSED or not r.message:
            continue
        _, style = _state(r)
        # The id alone in the border (never cut: ids are short); the title wraps inside.
        console.print(Panel(Group(Text(r.title, style="bold"), Text(r.message)), title=r.id,
                            title_align="left", border_style=style, expand=True))
    for note in report.notes:
        console.print(Panel(Text(note), title="Remarque", border_style="yellow"))
    ratio = report.score / report.max_score if report.max_score else 0
    colour = "green" if report.all_passed else "yellow" if ratio >= 0.5 else "red"
    todo = sum(1 for r in report.results if r.status is not Status.PASSED and not r.skipped_here)
    left = f" — {todo} vérification{'s' if todo > 1 else ''} à reprendre" if todo else ""
    console.print(Text(f"Note : {_fmt(report.score)} / {_fmt(report.max_score)}{left}   "
                       f"(correction en {_fmt(round(report.duration_s, 1))} s)", style=f"bold {colour}"))


def _title(report: Report) -> str:
    return f"TP {report.lab} — {report.title}"


def _table(report: Report, console: Console) -> None:
    table = Table(title=_title(report), box=box.SIMPLE_HEAVY, expand=True, title_justify="left")
    table.add_column("Vérification", ratio=3, overflow="fold")
    table.add_column("Points", justify="right", no_wrap=True)
    table.add_column("État", no_wrap=True)
    for r in report.results:
        label, style = _state(r)
        table.add_row(Text(f"{r.title}\n", style="bold").append(r.id, style="dim"),
                      _points(r), Text(label, style=style))
    console.print(table)


def _stacked(report: Report, console: Console) -> None:
    """One block per check: the title (wrapped at spaces), then id · points · state. Ids, points
    and states hold no space but the state's own, so wrapping never cuts them."""
    console.print(Text(_title(report), style="bold"))
    for r in report.results:
        label, style = _state(r)
        console.print(Rule(style="dim"))
        console.print(Text(r.title, style="bold"))
        line = Text.assemble((r.id, "dim"), "  ", (_points(r), "bold"), "  ")
        if line.cell_len + Text(label).cell_len > console.width:  # the state on its own line
            line.append("\n")
        console.print(line.append(label, style=style))
    console.print(Rule(style="dim"))


def _points(r) -> str:
    return f"{_fmt(r.earned)}/{_fmt(r.points)}"


def render_summary(rows: list[tuple[str, str, str]], console: Optional[Console] = None) -> None:
    """One line per lab graded by ``check DIR1 DIR2 …``: lab, score, grading time."""
    console = console or Console()
    table = Table(title="Récapitulatif", box=box.SIMPLE, title_justify="left")
    table.add_column("TP", overflow="fold")
    table.add_column("Note", justify="right", no_wrap=True)
    table.add_column("Durée", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)


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
    """A score as French text writes it: 1,5 (decimal comma), 10."""
    return f"{x:g}".replace(".", ",")
