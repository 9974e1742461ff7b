"""Incremental grading for ``make grade``: which submissions changed since their last grading.

A submission (``submitted/<student>/<lab>/``) is graded again only when it is new, when a digest
of its handed-in files differs from the one recorded at its last grading, when its autograded
notebook is gone, or when the instructor asks (``FORCE=1``, or ``STUDENT=…`` / ``LAB=…``). The
record is ``build/nbgrader/state.json``: per ``student/lab`` the digest, the score nbgrader gave,
its maximum and the date. A grading that could not run (no Docker) is not recorded, so the next
``make grade`` tries it again.

The digest covers every handed-in file, notebook included (the quiz answers are graded from it)
and nbgrader's ``timestamp.txt`` (late penalties), the released notebook of the lab (new grade
cells after a re-release) and the instructor's hidden checks folder. It does not cover the
grader's own code: after updating the course repository, ``make grade FORCE=1``.

:func:`grade` runs ``nbgrader autograde LAB --student S --force`` for each submission to grade,
one after the other (one SQLite gradebook), in this process through nbgrader's API. With
``workers`` > 1 the gradings themselves first run ahead, ``workers`` at a time
(:func:`grade_ahead`), into the report cache (:data:`REPORTS`) that the grade cells read; a report
already there for the same files (a CI runner's from ``make collect-ci``, or another student's
identical hand-in) is used as it is, except with ``FORCE=1``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

STATE_VERSION = 1
SKIPPED_PARTS = {".ipynb_checkpoints", "__pycache__"}
HIDDEN_ENV = "AUTOGRADER_HIDDEN_CHECKS"
# The grader's reports that the grade cells read (autograder.classroom.nbgrade.CACHE_ENV): graded ahead by
# `make grade`, or a CI runner's (`make collect-ci`, autograder.classroom.ci).
REPORTS = Path("build") / "nbgrader" / "reports"


@dataclass(frozen=True)
class Submission:
    student: str
    lab: str
    folder: Path

    @property
    def key(self) -> str:
        return f"{self.student}/{self.lab}"


def submissions(root: Path, lab_dir: re.Pattern) -> list[Submission]:
    """Every ``submitted/<student>/<lab>/`` folder, by student then lab."""
    base = root / "submitted"
    if not base.is_dir():
        return []
    return [Submission(s.name, p.name, p) for s in sorted(base.iterdir()) if s.is_dir()
            for p in sorted(s.iterdir()) if p.is_dir() and lab_dir.match(p.name)]


def digest(root: Path, sub: Submission) -> str:
    """sha256 of the handed-in files (paths and contents), the released notebook, the hidden checks."""
    h = hashlib.sha256()
    for path in sorted(sub.folder.rglob("*")):
        rel = path.relative_to(sub.folder)
        if SKIPPED_PARTS & set(rel.parts) or path.suffix == ".pyc" or path.is_dir():
            continue
        h.update(b"F" + rel.as_posix().encode() + b"\0")
        if path.is_symlink():
            h.update(b"L" + os.readlink(path).encode())
            continue
        try:
            h.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            h.update(b"?")
    released = root / "release" / sub.lab / "enonce.ipynb"
    h.update(b"R" + (hashlib.sha256(released.read_bytes()).digest() if released.is_file() else b"-"))
    h.update(b"H" + os.environ.get(HIDDEN_ENV, "").strip().encode())
    return h.hexdigest()


def state_path(root: Path) -> Path:
    return root / "build" / "nbgrader" / "state.json"


def load(root: Path) -> dict[str, dict]:
    """The recorded gradings, ``{"student/lab": {...}}``; an unreadable record counts as empty."""
    try:
        data = json.loads(state_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return {}
    return {k: v for k, v in data.get("submissions", {}).items() if isinstance(v, dict)}


def save(root: Path, state: dict[str, dict]) -> None:
    """Write the record atomically (an interrupted `make grade` keeps what it finished)."""
    path = state_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"version": STATE_VERSION, "submissions": dict(sorted(state.items()))},
                              ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def record(sub: Submission, hashed: str, score: Optional[float], max_score: Optional[float]) -> dict:
    return {"student": sub.student, "lab": sub.lab, "hash": hashed, "score": score, "max_score": max_score,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def to_grade(root: Path, subs: list[Submission], state: dict[str, dict], force: bool = False
             ) -> list[tuple[Submission, str]]:
    """(submission, digest) of those to grade: all when ``force``, else the new and the changed."""
    out = []
    for sub in subs:
        hashed = digest(root, sub)
        known = state.get(sub.key, {})
        graded = any((root / "autograded" / sub.student / sub.lab).glob("*.ipynb"))
        if force or known.get("hash") != hashed or not graded:
            out.append((sub, hashed))
    return out


def select(subs: list[Submission], labs: list[str], student: Optional[str], lab: Optional[str],
           lab_of) -> list[Submission]:
    """The submissions of ``student`` and/or ``lab`` (``01`` or the slug); SystemExit in French
    when the selection names nothing handed in."""
    if lab:
        wanted = lab_of(lab, labs)
        if wanted is None:
            raise SystemExit(f"TP inconnu : {lab} (attendu : un numéro comme 01, ou {', '.join(labs[:2])}…)")
        subs = [s for s in subs if s.lab == wanted]
    if student:
        subs = [s for s in subs if s.student == student]
    if (student or lab) and not subs:
        what = " et ".join(filter(None, [f"l'étudiant {student}" if student else "",
                                         f"le TP {lab}" if lab else ""]))
        raise SystemExit(f"Aucun rendu dans submitted/ pour {what}.")
    return subs


def gradebook_scores(root: Path, course_id: str) -> dict[tuple[str, str], tuple[float, float]]:
    """(student, lab) → (score, max score) of every autograded submission in nbgrader's gradebook."""
    db = root / "gradebook.db"
    if not db.is_file():
        return {}
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{db}", course_id) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                out[(sub.student.id, assignment.name)] = (float(sub.score), float(sub.max_score))
    return out


def render_table(scores: dict[tuple[str, str], tuple[float, float]], subs: list[Submission],
                 console=None, title: str = "Notes (étudiant × TP)") -> None:
    """Student × lab: nbgrader's score of each submission handed in, « — » where none was, « ? »
    for one handed in but not graded."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from autograder.report import _fmt

    console = console or Console()
    labs = sorted({s.lab for s in subs})
    students = sorted({s.student for s in subs})
    handed = {(s.student, s.lab) for s in subs}
    console.print(f"{title} :", highlight=False)
    table = Table(box=box.SIMPLE)
    table.add_column("Étudiant", overflow="fold")
    for lab in labs:
        table.add_column(lab[:2], justify="right", no_wrap=True)
    for student in students:
        cells = []
        for lab in labs:
            if (student, lab) not in handed:
                cells.append("—")
            elif (student, lab) in scores:
                score, top = scores[(student, lab)]
                cells.append(f"{_fmt(round(score, 2))}/{_fmt(round(top, 2))}")
            else:
                cells.append("?")
        table.add_row(student, *cells)
    console.print(table)
    if labs:
        console.print("TP : " + ", ".join(labs), highlight=False)


# ---------------------------------------------------------------------------------------------
# make grade
# ---------------------------------------------------------------------------------------------
def grade_ahead(root: Path, workers: int, subs: Optional[list] = None, out=None) -> Path:
    """Grade the submitted folders (``subs``: every one by default) with ``workers`` parallel
    graders (:mod:`autograder.engine.batch`: one child process each, isolated by its Docker job label)
    and keep the reports where the grade cells look for them (:data:`REPORTS`, named by
    :func:`autograder.classroom.nbgrade.report_key`). A folder whose report is already there (a CI runner's,
    from ``make collect-ci``, or an earlier grading of the same files) is not graded again.
    Prints ``[k/N] étudiant TP score durée`` as each finishes."""
    from autograder.engine import batch
    from autograder.classroom import nbgrade
    from autograder.classroom.course import LAB_DIR
    from autograder.report import _fmt

    out = out or sys.stdout
    cache = root / REPORTS
    cache.mkdir(parents=True, exist_ok=True)
    if subs is None:
        subs = submissions(root, LAB_DIR)
    keys = {str(s.folder): nbgrade.report_key(s.lab, s.folder) for s in subs}
    pending = [s for s in subs if not (cache / f"{keys[str(s.folder)]}.json").is_file()]
    if len(pending) < len(subs):
        print(f"{_n(len(subs) - len(pending), 'rapport déjà là', 'rapports déjà là')} (runners de CI, ou mêmes "
              "fichiers déjà corrigés) : repris sans nouvelle correction.", file=out)
    hidden = os.environ.get(nbgrade.HIDDEN_ENV, "").strip()
    jobs = [batch.Job(s.folder, s.lab, f"{s.student} {s.lab}", Path(hidden) if hidden else None) for s in pending]

    def done(k: int, n: int, outcome) -> None:
        r = outcome.report
        if "checks" in r:  # an error is not cached: the cell grades again and says why
            (cache / f"{keys[str(outcome.job.folder)]}.json").write_text(json.dumps(r, ensure_ascii=False),
                                                                         encoding="utf-8")
        score = f"{_fmt(r['score'])}/{_fmt(r['max_score'])}" if "checks" in r else "correction impossible"
        print(f"[{k}/{n}] {outcome.job.label} {score} {batch.seconds(outcome.seconds)}", file=out, flush=True)

    if jobs:
        print(f"Correction de {_n(len(jobs), 'rendu', 'rendus')}, {min(workers, len(jobs))} à la fois :", file=out)
        batch.Batch(workers).run(jobs, done)
    return cache


def _prune_reports(root: Path, subs: list[Submission], force_keys: set[str]) -> None:
    """Drop the cached reports of no current submission (older versions of the files), and those
    of ``force_keys`` (``FORCE=1``: graded again here, a CI runner's report included)."""
    from autograder.classroom import nbgrade

    cache = root / REPORTS
    if not cache.is_dir():
        return
    keep = {nbgrade.report_key(s.lab, s.folder) for s in subs} - force_keys
    for path in cache.glob("*.json"):
        if path.stem not in keep:
            path.unlink()


def grade(root: Path, workers: int = 1, *, force: bool = False, student: Optional[str] = None,
          lab: Optional[str] = None, out=None) -> list:
    """Autograde the submissions that are new or changed since their last grading
    (:mod:`autograder.classroom.incremental`; all with ``force``; those of ``student`` and/or ``lab``, always
    regraded, when named), one ``nbgrader autograde LAB --student S --force`` each: nbgrader runs
    the notebooks one after the other and writes one SQLite gradebook, which takes no concurrent
    writers. With ``workers`` > 1 the gradings themselves (the slow part) first run ahead in
    parallel and the grade cells read their reports. Prints ``[k/N] étudiant TP score durée`` per
    submission, the student × lab table and the time taken; returns the submissions graded."""
    from autograder.engine import batch
    from autograder.classroom.course import COURSE_ID, LAB_DIR, REPORT_CACHE_ENV, _lab_of, lab_folders, submitted_labs, ungraded
    from autograder.report import _fmt

    out = out or sys.stdout
    started = time.monotonic()
    subs = submissions(root, LAB_DIR)
    chosen = select(subs, list(lab_folders(root)) or submitted_labs(root), student, lab, _lab_of)
    state = load(root)
    todo = to_grade(root, chosen, state, force=force or bool(student or lab))
    if not subs:
        print("Aucun rendu dans submitted/ (make collect SUBMISSIONS=…).", file=out)
        return []
    kept = len(chosen) - len(todo)
    if kept:
        print(f"{_n(kept, 'rendu inchangé', 'rendus inchangés')} depuis la dernière correction, "
              f"{'laissés' if kept > 1 else 'laissé'} tel{'s' if kept > 1 else ''} quel{'s' if kept > 1 else ''} "
              "(FORCE=1 pour tout reprendre).", file=out)
    from autograder.classroom import nbgrade

    _prune_reports(root, subs, {nbgrade.report_key(s.lab, s.folder) for s, _ in todo} if force else set())
    # The grade cells read the reports of the cache: graded ahead here, or by a CI runner.
    env = {REPORT_CACHE_ENV: str(root / REPORTS)}
    if todo and workers > 1:
        grade_ahead(root, workers, [s for s, _ in todo], out)
    if todo:
        print("Notation nbgrader :", file=out)
    autograde = autograder(root, env) if todo else None
    for k, (sub, hashed) in enumerate(todo, 1):
        t0 = time.monotonic()
        ok, log = autograde(sub)
        score = gradebook_scores(root, COURSE_ID).get((sub.student, sub.lab))
        failed = not ok or score is None or f"{sub.student}/{sub.lab}" in ungraded(root, [sub])
        if not ok:
            sys.stderr.write(f"nbgrader autograde {sub.lab} --student {sub.student} a échoué :\n{log[-4000:]}\n")
        shown = "correction impossible" if failed else f"{_fmt(round(score[0], 2))}/{_fmt(round(score[1], 2))}"
        print(f"[{k}/{len(todo)}] {sub.student} {sub.lab} {shown} {batch.seconds(time.monotonic() - t0)}",
              file=out, flush=True)
        if failed:
            state.pop(sub.key, None)
        else:
            state[sub.key] = record(sub, hashed, *score)
        save(root, state)
    from rich.console import Console

    render_table(gradebook_scores(root, COURSE_ID), subs, Console(file=out))
    print(f"Durée totale : {batch.seconds(time.monotonic() - started)} ({len(todo)} "
          f"corrigé{'s' if len(todo) > 1 else ''} sur {_n(len(subs), 'rendu', 'rendus')})", file=out)
    return [s for s, _ in todo]


def autograder(root: Path, env: dict[str, str]) -> Callable[[Submission], tuple[bool, str]]:
    """``autograde(submission)`` → (success, nbgrader's log): ``nbgrader autograde LAB --student S
    --force`` run in this process through nbgrader's own API (:class:`nbgrader.apps.NbGraderAPI`),
    with ``env`` set for the notebook kernels. nbgrader is imported once: a submission costs its
    notebook run (~3 s for lab 01 on 2 cores) instead of ~8 s for a new ``nbgrader`` process.
    The kernels' own stderr (ZeroMQ warnings) goes to nbgrader's log, not the terminal."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    api = NbGraderAPI(CourseDirectory(config=config), config=config)

    def autograde(sub: Submission) -> tuple[bool, str]:
        # nbgrader runs `alembic` (the gradebook's migrations) from PATH: the venv's bin/ first.
        extra = dict(env, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        saved = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        err = tempfile.TemporaryFile()
        fd2 = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(err.fileno(), 2)  # the kernels inherit it
            result = api.autograde(sub.lab, sub.student, force=True, create=True)
        finally:
            os.dup2(fd2, 2)
            os.close(fd2)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        err.close()
        error = result.get("error", "")
        if "KeyboardInterrupt" in error:  # nbgrader's capture_log catches everything
            raise KeyboardInterrupt
        return bool(result.get("success")), "\n".join(filter(None, [result.get("log", ""), error, stderr]))

    return autograde


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
