"""Incremental `make grade` (autograder.classroom.incremental): only new or changed hand-ins are graded.

The first tests stand in for nbgrader and the gradebook (no Docker); the last one runs the real
cycle (release, collect, nbgrader autograde, the grader on Docker) on a temporary course root
with lab 01's starter files, which grade in about a second."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.engine import batch

from autograder.classroom import course, incremental, nbgrade
from cases import LABS, ROOT

LAB = "01-images-conteneurs"


@pytest.fixture
def fake_nbgrader(tmp_path, monkeypatch):
    """nbgrader autograde LAB --student S stands in: it writes the autograded notebook, the gradebook holds 3/14
    (or a « Correction impossible » notebook for a student in `broken`)."""
    calls: list[tuple[str, str]] = []
    broken: set[str] = set()

    def run(root, sub, env):
        calls.append((sub.student, sub.lab))
        fake_nbgrader.envs.append(env)
        nb = nbformat.v4.new_notebook()
        if sub.student in broken:
            cell = nbformat.v4.new_code_cell("assert reussi, message")
            cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", traceback=[],
                                                   evalue="Correction impossible : Docker ne répond pas")]
            nb.cells = [cell]
        path = root / "autograded" / sub.student / sub.lab / "enonce.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        return True, ""

    def scores(root, course_id):
        return {(p.parent.parent.name, p.parent.name): (3.0, 14.0)
                for p in (root / "autograded").glob("*/*/enonce.ipynb")}

    monkeypatch.setattr(incremental, "autograder", lambda root, env: lambda sub: run(root, sub, env))
    monkeypatch.setattr(incremental, "gradebook_scores", scores)
    fake_nbgrader.calls = calls
    fake_nbgrader.envs = []
    fake_nbgrader.broken = broken
    root = tmp_path / "cours"
    (root / "labs" / LAB).mkdir(parents=True)
    (root / "labs" / "02-volumes-persistance").mkdir(parents=True)
    fake_nbgrader.root = root
    return fake_nbgrader


def _hand_in(root: Path, student: str, lab: str = LAB, text: str = "") -> Path:
    folder = root / "submitted" / student / lab
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(text or f"FROM python:3.13-slim\nLABEL auteur={student}\n")
    return folder


def _graded(subs) -> list[str]:
    return [s.key for s in subs]


def test_only_new_or_changed_hand_ins_are_graded(fake_nbgrader, capsys):
    root = fake_nbgrader.root
    _hand_in(root, "ana")
    _hand_in(root, "ben")
    assert _graded(course.grade(root)) == [f"ana/{LAB}", f"ben/{LAB}"]
    out = capsys.readouterr().out
    assert f"[1/2] ana {LAB} 3/14 " in out and f"[2/2] ben {LAB} 3/14 " in out
    state = json.loads((root / "build" / "nbgrader" / "state.json").read_text())["submissions"]
    assert set(state) == {f"ana/{LAB}", f"ben/{LAB}"}
    assert state[f"ana/{LAB}"]["score"] == 3.0 and state[f"ana/{LAB}"]["max_score"] == 14.0
    assert len(state[f"ana/{LAB}"]["hash"]) == 64 and state[f"ana/{LAB}"]["date"].endswith("Z")

    # A second run after one new hand-in grades that one only.
    _hand_in(root, "cleo", "02-volumes-persistance")
    assert _graded(course.grade(root)) == ["cleo/02-volumes-persistance"]
    out = capsys.readouterr().out
    assert "2 rendus inchangés" in out and "[1/1] cleo 02-volumes-persistance 3/14" in out
    # The table: one row per student, « — » for a lab not handed in.
    row = next(line for line in out.splitlines() if line.strip().startswith("cleo"))
    assert "—" in row and "3/14" in row
    assert "Durée totale" in out

    # Nothing changed: nothing graded. A changed file (or notebook: the quiz answers) is graded again.
    assert course.grade(root) == []
    (root / "submitted" / "ben" / LAB / "enonce.ipynb").write_text("{}")
    _hand_in(root, "ana", text="FROM python:3.13-slim\nUSER 1000\n")
    assert _graded(course.grade(root)) == [f"ana/{LAB}", f"ben/{LAB}"]
    # A re-release of the lab's notebook invalidates its hand-ins.
    (root / "release" / LAB).mkdir(parents=True)
    (root / "release" / LAB / "enonce.ipynb").write_text("{}")
    assert _graded(course.grade(root)) == [f"ana/{LAB}", f"ben/{LAB}"]
    assert len(fake_nbgrader.calls) == 7


def test_force_and_selection(fake_nbgrader, capsys):
    root = fake_nbgrader.root
    for student in ("ana", "ben"):
        _hand_in(root, student)
        _hand_in(root, student, "02-volumes-persistance")
    course.grade(root)
    assert len(course.grade(root, force=True)) == 4
    # STUDENT and LAB (number or slug) select, and are graded again even unchanged.
    assert _graded(course.grade(root, student="ben", lab="01")) == [f"ben/{LAB}"]
    assert _graded(course.grade(root, lab="02-volumes-persistance")) == \
        ["ana/02-volumes-persistance", "ben/02-volumes-persistance"]
    assert _graded(course.grade(root, student="ana")) == [f"ana/{LAB}", "ana/02-volumes-persistance"]
    with pytest.raises(SystemExit, match="TP inconnu : 77"):
        course.grade(root, lab="77")
    with pytest.raises(SystemExit, match="Aucun rendu dans submitted/ pour l'étudiant zoe"):
        course.grade(root, student="zoe")
    # An autograded notebook removed by hand: graded again.
    shutil.rmtree(root / "autograded" / "ana")
    assert _graded(course.grade(root)) == [f"ana/{LAB}", "ana/02-volumes-persistance"]


def test_a_grading_that_could_not_run_is_tried_again(fake_nbgrader, capsys):
    root = fake_nbgrader.root
    _hand_in(root, "ana")
    fake_nbgrader.broken.add("ana")
    assert course.main(["--root", str(root), "grade", "--workers", "1"]) == 1
    out = capsys.readouterr()
    assert f"[1/1] ana {LAB} correction impossible" in out.out and "relancez" in out.err
    assert incremental.load(root) == {}
    fake_nbgrader.broken.clear()
    assert _graded(course.grade(root)) == [f"ana/{LAB}"]
    assert _graded(course.grade(root)) == []


def test_grading_ahead_runs_only_what_is_graded(fake_nbgrader, monkeypatch, capsys):
    """With workers > 1 the gradings run ahead (stand-in child processes here) for the
    submissions to grade only, and nbgrader's cells are pointed at their reports. A report already
    in the cache (a CI runner's, `make collect-ci`) is used as it is, unless FORCE=1."""
    root = fake_nbgrader.root
    graded_ahead: list[str] = []
    report = {"lab": LAB, "score": 3, "max_score": 10, "attainable": 10, "checks": []}

    def command(job):
        graded_ahead.append(job.folder.parent.name)
        return [sys.executable, "-c", f"print({json.dumps(json.dumps(report))})"]

    def key(student: str) -> str:
        return nbgrade.report_key("01", root / "submitted" / student / LAB)

    monkeypatch.setattr(batch, "command", command)
    cache = root / incremental.REPORTS
    _hand_in(root, "ana")
    course.grade(root, workers=2)
    _hand_in(root, "ben")
    course.grade(root, workers=2)
    assert graded_ahead == ["ana", "ben"]
    assert fake_nbgrader.envs[-1] == {course.REPORT_CACHE_ENV: str(cache)}
    assert sorted(p.stem for p in cache.iterdir()) == sorted([key("ana"), key("ben")])
    out = capsys.readouterr().out
    assert "Correction de 1 rendu, 1 à la fois" in out and f"[1/1] ben {LAB} 3/10 " in out

    # A runner's report for cleo's files: nbgrader reads it, nothing is graded here.
    _hand_in(root, "cleo")
    (cache / f"{key('cleo')}.json").write_text(json.dumps(dict(report, score=7)))
    assert _graded(course.grade(root, workers=2)) == [f"cleo/{LAB}"]
    assert graded_ahead == ["ana", "ben"] and "1 rapport déjà là" in capsys.readouterr().out
    # A changed file: the old report goes, the new files are graded.
    old = key("ana")
    _hand_in(root, "ana", text="FROM debian:trixie-slim\n")
    course.grade(root, workers=2)
    assert graded_ahead == ["ana", "ben", "ana"] and not (cache / f"{old}.json").exists()
    # FORCE=1 grades everything here again, the runner's report included.
    course.grade(root, workers=2, force=True)
    assert sorted(graded_ahead[3:]) == ["ana", "ben", "cleo"]
    assert json.loads((cache / f"{key('cleo')}.json").read_text())["score"] == 3
    # The same files handed in by another student: the same report, not graded twice.
    shutil.copytree(root / "submitted" / "ana", root / "submitted" / "dan")
    assert _graded(course.grade(root, workers=2)) == [f"dan/{LAB}"] and len(graded_ahead) == 6


# ---------------------------------------------------------------------------------------------
# The real cycle: nbgrader and Docker
# ---------------------------------------------------------------------------------------------
@pytest.mark.docker
def test_second_make_grade_after_one_new_hand_in_grades_only_that_one(tmp_path):
    root = tmp_path / "cours"
    (root / "labs").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(LABS / LAB, root / "labs" / LAB, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    course.release(root, [LAB])
    src = tmp_path / "rendus"

    def hand_in(student: str) -> None:
        shutil.copytree(LABS / LAB, src / student / LAB, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
        with (src / student / LAB / "Dockerfile").open("a") as f:  # files of one's own: graded, not reused
            f.write(f"# {student}\n")
        course.collect(root, src)
        shutil.rmtree(src)

    def make_grade() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "autograder.classroom.course", "--root", str(root), "grade",
                               "--workers", "2"], capture_output=True, text=True, timeout=600, cwd=ROOT)

    hand_in("ana")
    first = make_grade()
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"[1/1] ana {LAB} " in first.stdout
    ana = incremental.load(root)[f"ana/{LAB}"]
    hand_in("ben")
    second = make_grade()
    assert second.returncode == 0, second.stdout + second.stderr
    lines = [line for line in second.stdout.splitlines() if line.startswith("[")]
    # Graded ahead by the grader, then by nbgrader: ben only, both times.
    assert len(lines) == 2 and all(line.startswith(f"[1/1] ben {LAB} ") for line in lines), second.stdout
    assert "1 rendu inchangé" in second.stdout
    state = incremental.load(root)
    assert set(state) == {f"ana/{LAB}", f"ben/{LAB}"}
    assert state[f"ana/{LAB}"] == ana  # not graded again
    assert state[f"ben/{LAB}"]["score"] == ana["score"]  # the starter, commented: the same grade
