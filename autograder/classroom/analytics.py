"""Class analytics from the nbgrader gradebook: which concept did the class miss?

``python -m autograder.classroom.analytics [--root COURSE]`` (``make analytics``) reads ``gradebook.db``
after ``make grade`` and writes ``build/nbgrader/rapport.html``: per lab, the distribution of the
scores and the pass rate of each check (each check is one grade cell, named by the check id), as
matplotlib plots embedded in one self-contained HTML page.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from autograder.classroom import course


@dataclass
class LabStats:
    lab: str
    max_score: float
    scores: dict[str, float] = field(default_factory=dict)          # student -> score
    checks: dict[str, list[bool]] = field(default_factory=dict)      # check id -> passed, per student
    points: dict[str, float] = field(default_factory=dict)

    def pass_rate(self, check: str) -> float:
        runs = self.checks.get(check, [])
        return sum(runs) / len(runs) if runs else 0.0


def collect_stats(root: Path) -> list[LabStats]:
    """Per lab, the submitted students' scores and each grade cell's outcome."""
    from nbgrader.api import Gradebook

    root = Path(root).resolve()
    stats = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course.COURSE_ID) as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            s = LabStats(assignment.name, float(assignment.max_score))
            for nb in assignment.notebooks:
                for cell in nb.grade_cells:
                    s.points[cell.name] = float(cell.max_score)
                    s.checks[cell.name] = []
            for sub in assignment.submissions:
                s.scores[sub.student.id] = float(sub.score)
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        s.checks.setdefault(grade.name, []).append(
                            (grade.score or 0) >= grade.max_score > 0)
            if s.scores:
                stats.append(s)
    return stats


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(s: LabStats) -> tuple[str, str]:
    """(score distribution, pass rate per check), as base64 PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(list(s.scores.values()), bins=[x / 2 for x in range(0, int(s.max_score * 2) + 2)],
            color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"note (sur {s.max_score:g})")
    ax.set_ylabel("étudiants")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole students
    ax.set_title(f"{s.lab} : distribution des notes")
    dist = _png(fig)
    plt.close(fig)

    ids = list(s.checks)
    rates = [100 * s.pass_rate(c) for c in ids]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(ids) + 1))
    colours = ["#c44e52" if r < 50 else "#dd8452" if r < 80 else "#55a868" for r in rates]
    ax.barh(ids[::-1], rates[::-1], color=colours[::-1])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% de la classe qui réussit")
    ax.set_title(f"{s.lab} : réussite par vérification")
    rate = _png(fig)
    plt.close(fig)
    return dist, rate


def render(stats: list[LabStats]) -> str:
    parts = ["<!doctype html><html lang='fr'><head><meta charset='utf-8'>",
             "<title>Rapport de la classe</title><style>body{font-family:sans-serif;max-width:60em;"
             "margin:auto}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
             "</style></head><body><h1>Rapport de la classe</h1>"]
    if not stats:
        parts.append("<p>Aucun rendu noté dans le gradebook : lancez <code>make grade</code>.</p>")
    for s in stats:
        mean = sum(s.scores.values()) / len(s.scores)
        dist, rate = plots(s)
        worst = sorted(s.checks, key=s.pass_rate)[:3]
        parts.append(f"<h2>{html.escape(s.lab)}</h2><p>{len(s.scores)} rendu{'s' if len(s.scores) > 1 else ''}, moyenne "
                     f"{mean:.2f} / {s.max_score:g}. Le moins réussi : "
                     + ", ".join(f"<code>{html.escape(c)}</code> ({100 * s.pass_rate(c):.0f} %)" for c in worst)
                     + f".</p><img alt='distribution des notes' src='data:image/png;base64,{dist}'>"
                     f"<img alt='réussite par vérification' src='data:image/png;base64,{rate}'>"
                     "<table><tr><th>Vérification</th><th>Points</th><th>Réussite</th></tr>")
        for c in s.checks:
            parts.append(f"<tr><td><code>{html.escape(c)}</code></td><td>{s.points.get(c, 0):g}</td>"
                         f"<td>{100 * s.pass_rate(c):.0f} %</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(root: Path, out: Optional[Path] = None) -> Path:
    out = out or Path(root) / "build" / "nbgrader" / "rapport.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(collect_stats(root)), encoding="utf-8")
    return out


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.classroom.analytics",
                                description="Rapport de la classe (distribution des notes, réussite "
                                            "par vérification) depuis gradebook.db.")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    print("Rapport :", write_report(args.root.resolve(), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
