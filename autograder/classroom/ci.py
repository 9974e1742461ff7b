"""Grading on the school's CI runners: the job templates, the scorecard in the job log, and the
instructor's side (``make collect-ci ARTIFACTS=dir``).

* ``ci/gitlab-ci.yml`` and ``ci/github-classroom.yml`` are the jobs a student release carries
  (:func:`install` writes them, with the lab's id, as ``.gitlab-ci.yml`` and
  ``.github/workflows/correction.yml``). Each grades the committed files (``git archive HEAD`` into
  ``rapport-correcteur/rendu/``) with ``python -m autograder check … --json --junit …`` and keeps
  ``rapport-correcteur/`` as the job's artifact: ``autograder.json``, ``junit.xml``, ``rendu/``.
* ``python -m autograder.classroom.ci scorecard FILE`` prints the scorecard of a JSON report in the job log
  (and, with ``--markdown FILE``, a table for GitHub's job summary).
* ``python -m autograder.classroom.ci collect ARTIFACTS`` (``make collect-ci``) reads the downloaded
  artifacts, one folder per student: ``ARTIFACTS/<étudiant>/…/autograder.json`` with ``rendu/``
  beside it (an unzipped GitLab ``artifacts.zip`` or GitHub artifact, at any depth). The files of
  ``rendu/`` go to ``submitted/<étudiant>/<lab>/`` as ``make collect`` puts them, and the report
  to the report cache that ``make grade`` reads (``build/nbgrader/reports/<report_key>.json``,
  keyed by the submitted files' digest): the grade cells then take the runner's grades instead of
  grading again.

Trust: a student controls their repository, so a report made on a runner is only as good as the
job that made it. ``collect`` refuses reports that do not match the lab's checks (ids, points,
score); on GitLab, point the project's CI configuration at a file the students cannot edit
(Settings → CI/CD → « CI/CD configuration file » ``.gitlab-ci.yml@ecole/correcteur``); ``make grade
FORCE=1`` regrades everything locally.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

from autograder.core import CheckResult, GraderUnavailable, Report, Status

TEMPLATES = Path(__file__).resolve().parents[2] / "ci"
# template → where it goes in a student's repository
INSTALLED = {"gitlab-ci.yml": Path(".gitlab-ci.yml"),
             "github-classroom.yml": Path(".github/workflows/correction.yml")}
# where a job goes when the lab has a file of that name (the student's own pipeline)
BESIDE = {Path(".gitlab-ci.yml"): Path(".gitlab-ci.correction.yml"),
          Path(".github/workflows/correction.yml"): Path(".github/workflows/correction-autograder.yml")}
LAB_MARK = "@LAB@"
REPORT = "autograder.json"
FILES = "rendu"
CACHE = Path("build") / "nbgrader" / "reports"


# ---------------------------------------------------------------------------------------------
# Student release
# ---------------------------------------------------------------------------------------------
def render(template: str, lab_id: str) -> str:
    return (TEMPLATES / template).read_text(encoding="utf-8").replace(LAB_MARK, lab_id)


def install(dest: Path, lab_id: str) -> list[Path]:
    """Write the CI jobs of ``lab_id`` into a released lab folder ``dest``; returns their paths.

    A file of the lab itself is never replaced: lab 10's students write their own
    ``.gitlab-ci.yml`` (it is what that lab grades), so the grading job goes beside it
    (:data:`BESIDE`), and the project's « CI/CD configuration file » points at it (ci/README.md)."""
    written = []
    for template, rel in INSTALLED.items():
        target = dest / rel
        if target.exists():
            target = dest / BESIDE[rel]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(template, lab_id), encoding="utf-8")
        written.append(target)
    return written


def install_release(root: Path, labs: list[str]) -> list[Path]:
    """The CI jobs into each released lab (``release/<lab>/``, after nbgrader's
    generate_assignment): called by :func:`autograder.classroom.course.release`."""
    written = []
    for lab in labs:
        dest = root / "release" / lab
        if dest.is_dir():
            written += install(dest, lab)
    return written


# ---------------------------------------------------------------------------------------------
# Job log
# ---------------------------------------------------------------------------------------------
def to_report(data: dict) -> Report:
    """A :class:`Report` from its JSON (``Report.to_json``), titled from the registry."""
    from autograder import registry

    try:
        title = registry.get_lab(data.get("lab", "")).title
    except GraderUnavailable:  # an unknown lab still gets its scorecard
        title = ""
    results = [CheckResult(c["id"], c["title"], c["points"], c["earned"], Status(c["status"]),
                           c.get("message", ""), skipped_here=c.get("skipped_here", False),
                           absent=c.get("absent", False)) for c in data.get("checks", [])]
    return Report(data.get("lab", ""), title, results, float(data.get("duration_s", 0.0)),
                  notes=list(data.get("notes", [])), incomplete=bool(data.get("incomplete", False)))


def _read(path: Path) -> dict:
    """The report in ``path``: the last JSON line (``check --json`` prints one per folder)."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise ValueError("rapport vide")
    data = json.loads(lines[-1])
    if not isinstance(data, dict):
        raise ValueError("ce n'est pas un rapport du correcteur")
    return data


def markdown(data: dict) -> str:
    from autograder.report import _fmt

    if "checks" not in data:
        return f"**Correction impossible** : {data.get('error_fr') or data.get('error', '')}\n"
    rows = [f"### TP {data['lab']} — {_fmt(data['score'])} / {_fmt(data['max_score'])}", "",
            "| Vérification | Points | État |", "|---|---:|---|"]
    for c in data["checks"]:
        state = {"passed": "✔ réussi", "failed": "✘ échoué", "skipped": "– non évalué",
                 "error": "! erreur"}.get(c["status"], c["status"])
        rows.append(f"| `{c['id']}` {c['title']} | {_fmt(c['earned'])}/{_fmt(c['points'])} | {state} |")
    return "\n".join(rows) + "\n"


def scorecard(path: Path, md: Optional[Path] = None) -> int:
    from rich.console import Console

    from autograder import report

    try:
        data = _read(path)
    except (OSError, ValueError) as exc:
        print(f"Pas de rapport lisible dans {path} : {exc}", file=sys.stderr)
        return 2
    if md:
        with open(md, "a", encoding="utf-8") as out:
            out.write(markdown(data))
    if "checks" not in data:
        print(f"Correction impossible : {data.get('error_fr') or data.get('error', '')}", file=sys.stderr)
        return 0
    # A CI log is not a terminal: a fixed width keeps the table readable.
    report.render(to_report(data), Console(width=110, force_terminal=False))
    return 0


# ---------------------------------------------------------------------------------------------
# Instructor: downloaded artifacts → submitted/ + report cache
# ---------------------------------------------------------------------------------------------
def verify(data: dict) -> str:
    """Why ``data`` is not a complete report of its lab's checks ('' when it is one)."""
    from autograder import registry

    if "checks" not in data:
        return "la correction n'a pas pu se faire sur le runner : " + str(data.get("error_fr") or data.get("error", ""))
    try:
        lab = registry.get_lab(str(data.get("lab", "")))
    except GraderUnavailable:
        return f"TP inconnu : {data.get('lab')!r}"
    if data["lab"] != lab.id:
        return f"TP inconnu : {data.get('lab')!r}"
    expected = {c.id: c.points for c in lab.checks}
    got = {c.get("id"): c for c in data["checks"]}
    if set(got) != set(expected):
        return "les vérifications ne sont pas celles du TP (version du correcteur différente ?)"
    for cid, c in got.items():
        if float(c.get("points", -1)) != expected[cid] or not 0 <= float(c.get("earned", -1)) <= expected[cid] \
                or (c.get("status") != "passed" and float(c["earned"]) > 0):
            return f"points incohérents pour {cid}"
    if round(sum(float(c["earned"]) for c in got.values()), 2) != float(data.get("score", -1)):
        return "la note ne fait pas la somme des vérifications"
    if data.get("incomplete"):
        return "correction incomplète sur le runner (Docker a cessé de répondre)"
    return ""


def find_reports(student_dir: Path) -> list[Path]:
    return sorted(p for p in student_dir.rglob(REPORT) if (p.parent / FILES).is_dir())


def collect(root: Path, artifacts: Path) -> tuple[list[str], list[str]]:
    """``artifacts/<student>/…`` → ``submitted/`` and the report cache. Returns (collected
    ``student/lab``, refused with the French reason)."""
    from autograder.classroom import course, nbgrade

    if not artifacts.is_dir():
        raise SystemExit(f"dossier introuvable : {artifacts}")
    done: list[str] = []
    refused: list[str] = []
    cache = root / CACHE
    for student_dir in sorted(p for p in artifacts.iterdir() if p.is_dir() and not p.name.startswith(".")):
        reports = find_reports(student_dir)
        if not reports:
            refused.append(f"{student_dir.name} : aucun {REPORT} avec son dossier {FILES}/")
            continue
        for path in reports:
            try:
                data = _read(path)
            except (OSError, ValueError) as exc:
                refused.append(f"{student_dir.name} : {path.relative_to(artifacts)} illisible ({exc})")
                continue
            problem = verify(data)
            if problem:
                refused.append(f"{student_dir.name} : {problem}")
                continue
            lab = data["lab"]
            with tempfile.TemporaryDirectory(prefix="collect-ci-") as tmp:
                shutil.copytree(path.parent / FILES, Path(tmp) / student_dir.name / lab, symlinks=True)
                course.collect(root, Path(tmp))
            submitted = root / "submitted" / student_dir.name / lab
            cache.mkdir(parents=True, exist_ok=True)
            key = nbgrade.report_key(lab, submitted)
            (cache / f"{key}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            done.append(f"{student_dir.name}/{lab}")
    return done, refused


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.classroom.ci",
                                description="Correction sur les runners de CI : grille et rapports.")
    sub = p.add_subparsers(dest="step", required=True)
    sc = sub.add_parser("scorecard", help="afficher la grille d'un rapport JSON (journal du job)")
    sc.add_argument("report", type=Path)
    sc.add_argument("--markdown", type=Path, metavar="FILE", help="ajouter un tableau Markdown à FILE")
    col = sub.add_parser("collect", help="artefacts téléchargés (<étudiant>/…/autograder.json) → submitted/ "
                                         "et les rapports que `make grade` lit")
    col.add_argument("artifacts", type=Path)
    col.add_argument("--root", type=Path, default=TEMPLATES.parent, help="racine du cours")
    args = p.parse_args(argv)
    if args.step == "scorecard":
        return scorecard(args.report, args.markdown)
    done, refused = collect(args.root.resolve(), args.artifacts)
    print(f"Rapports des runners repris : {len(done)}" + (f" ({', '.join(done)})" if done else ""))
    for line in refused:
        print(f"Refusé — {line}", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
