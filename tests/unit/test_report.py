"""The scorecard stays readable in a narrow terminal and in a notebook (JupyterLab)."""

import html
import io
import re

import pytest
from rich.console import Console

from autograder import report
from autograder.core import CheckResult, Report, Status
from autograder.registry import all_labs


def sample() -> Report:
    """Real lab 08 titles and ids (the longest id of the course), one result of each status."""
    lab = next(lab for lab in all_labs() if lab.id.startswith("08-"))
    statuses = [Status.PASSED, Status.FAILED, Status.SKIPPED, Status.ERROR]
    results = []
    for i, check in enumerate(lab.checks):
        status = statuses[i % len(statuses)]
        results.append(CheckResult(check.id, check.title, check.points,
                                   check.points if status is Status.PASSED else 0.0, status,
                                   "" if status is Status.PASSED else
                                   "Attendu : quelque chose\nObservé : autre chose\nÀ faire : corrigez"))
    longest = max((c for lab in all_labs() for c in lab.checks), key=lambda c: len(c.id))
    results.append(CheckResult(longest.id, longest.title, 1.5, 0.0, Status.SKIPPED, "Non évalué ici"))
    return Report(lab=lab.id, title=lab.title, results=results, duration_s=42.0,
                  notes=["Fins de ligne Windows (CRLF) détectées dans : initdb/01-schema.sql."])


def words(text: str) -> str:
    """The text with the panels' borders dropped and every run of whitespace made one space."""
    return " ".join(re.sub(r"[│╭╮╰╯─━]", " ", text).split())


def rendered(width: int) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=False, color_system=None)
    report.render(sample(), console)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [40, 60, 100])
def test_every_id_title_and_points_appear_intact_within_the_width(width):
    text = rendered(width)
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), max(lines, key=len)
    flat = words(text)
    for r in sample().results:
        assert any(r.id in line.split() for line in lines), f"{r.id} cut at width {width}"
        assert f"{report._fmt(r.earned)}/{report._fmt(r.points)}" in flat.split()
        assert r.title in flat, f"title of {r.id} altered at width {width}"
        assert report.STYLE[r.status][0] in flat
    assert "Note : " in text and "/ " in text


def test_narrow_consoles_get_one_block_per_check_wide_ones_a_table():
    assert "Vérification" not in rendered(60)
    assert "Vérification" in rendered(100)


def test_a_notebook_gets_the_scorecard_as_html(monkeypatch):
    """In JupyterLab rich hands IPython an HTML bundle: every id, title and points are in it."""
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    console = Console(force_jupyter=True, width=100)
    report.render(sample(), console)
    bundles = [obj._repr_mimebundle_(include=None, exclude=None) for obj in shown]
    page = words(html.unescape(re.sub(r"<[^>]+>", "", "".join(b["text/html"] for b in bundles))))
    for r in sample().results:
        assert r.id in page and r.title in page
        assert f"{report._fmt(r.earned)}/{report._fmt(r.points)}" in page


@pytest.mark.parametrize("earned, statuses, line", [
    ([1.5, 0.5], [Status.PASSED, Status.PASSED], "Note : 2 / 2 (correction en 3,5 s)"),
    ([1.5, 0.0], [Status.PASSED, Status.FAILED], "Note : 1,5 / 2 — 1 vérification à reprendre (correction en 3,5 s)"),
    ([0.0, 0.0], [Status.FAILED, Status.ERROR], "Note : 0 / 2 — 2 vérifications à reprendre (correction en 3,5 s)"),
])
def test_the_last_line_gives_the_note_with_a_decimal_comma_and_what_is_left(earned, statuses, line):
    results = [CheckResult(f"99-c{i}", f"Titre {i}", points, got, status, "" if status is Status.PASSED else "À faire")
               for i, (points, got, status) in enumerate(zip([1.5, 0.5], earned, statuses))]
    console = Console(width=120, file=io.StringIO(), force_terminal=False, color_system=None)
    report.render(Report(lab="99-essai", title="Essai", results=results, duration_s=3.49), console)
    assert " ".join(console.file.getvalue().splitlines()[-1].split()) == line
