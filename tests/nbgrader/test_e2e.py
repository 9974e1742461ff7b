"""The nbgrader cycle end to end on a temporary course: release → collect → autograde → feedback
→ export, three fake students on every lab (the reference solution, the starter, a mutant).
The solution and the mutant also answer the question cells right (the reference answers of
quiz_answers.toml, written into the released notebook); the starter leaves them empty.

The course is a copy of nbgrader_config.py and the labs in tmp_path: nothing is written into the
repository. An instructor's hidden check (tests/nbgrader/hidden/) is active throughout. The last
run's class report is kept in build/nbgrader-e2e/rapport.html. The test prints its timings.
"""

from __future__ import annotations

import csv
import html
import shutil
import time
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import nbformat
import pytest

from autograder.classroom import analytics, course
from autograder.core import Status
from autograder.classroom.hidden import ENV as HIDDEN_ENV, extended
from autograder.classroom.nbgrade import ANSWER_SUFFIX
from autograder.classroom.quiz import questions, total
from autograder.registry import get_lab
from autograder.engine.runner import grade
from autograder.engine.docker_api import leftovers
from cases import LABS, ROOT, SOLUTIONS, variants

pytestmark = pytest.mark.docker

# Every lab, each with one mutant: its failed checks' points are the partial student's loss. The
# lab 01 one deletes .dockerignore, which the starter has: it also proves autograde does not put
# the starter's copy back (exclude_overwriting).
MUTANTS = {
    "01-images-conteneurs": "no-dockerignore",
    "02-volumes-persistance": "init-writable",
    "03-reseaux": "db-port-published",
    "04-registre": "no-immutable-tag",
    "05-optimisation-images": "code-before-toolchain",
    "06-securite-images": "no-healthcheck",
    "07-dependances-python": "pip-cache-kept",
    "08-postgres-sql": "not-idempotent",
    "09-pipeline-dbt-dagster": "no-status-filter",
    "10-ci-cd": "tests-assert-nothing",
    "11-ressources-gpu": "pids-missing",
    "12-secrets-durcissement": "runs-as-root",
    "13-kubernetes-podman": "replicas-one",
}
LABS_E2E = tuple(MUTANTS)
STUDENTS = ("solution", "starter", "partiel")
# Labs with checks that some hosts cannot judge (skipped there, earning nothing): lab 07's conda
# image without conda-forge, lab 11's GPU run without an NVIDIA runtime, lab 13's pods without Podman.
HOST_DEPENDENT = ("07-dependances-python", "11-ressources-gpu", "13-kubernetes-podman")
# The instructor's hidden checks: one static check on lab 01, worth 0.5, that the solution and the
# mutant pass and the starter fails.
HIDDEN = Path(__file__).resolve().parent / "hidden"
# Two gradings ahead at a time, as `make grade` on this 2-core machine (NBGRADER_WORKERS defaults to
# the cores): the grades must be those of one grading at a time (issue 17; autograder/classroom/course.py
# names what used to take points from a grading beside others, and `make stress` compares them).
WORKERS = 2
ANSWERS = tomllib.loads((Path(__file__).resolve().parent / "quiz_answers.toml").read_text(encoding="utf-8"))


def answered(notebook: Path, dest: Path) -> None:
    """The released notebook with every answer cell filled with the first reference answer."""
    nb = nbformat.read(notebook, as_version=4)
    for q in questions(notebook.parent.name):
        cell = next(c for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("grade_id") == q.id + ANSWER_SUFFIX)
        cell.source = f"{q.variable} = {ANSWERS[q.id]['reference'][0]!r}"
    nbformat.write(nb, dest)


def make_course(tmp: Path) -> Path:
    root = tmp / "cours"
    (root / "labs").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for lab in LABS_E2E:
        shutil.copytree(LABS / lab, root / "labs" / lab,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


def submissions(root: Path, tmp: Path) -> Path:
    """An LMS-like zip: rendus/<student>/<lab>/… with the released notebook in each folder."""
    base = tmp / "rendus"
    for lab in LABS_E2E:
        released = root / "release" / lab
        notebook = released / "enonce.ipynb"
        shutil.copytree(SOLUTIONS / lab, base / "solution" / lab)
        shutil.copytree(released, base / "starter" / lab)
        mutant = next(v for v in variants("mutant") if v.lab == lab and v.name == MUTANTS[lab])
        mutant.materialise(base / "partiel")
        for student in ("solution", "partiel"):
            answered(notebook, base / student / lab / "enonce.ipynb")
    archive = tmp / "export-lms.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(base.rglob("*")):
            zf.write(path, path.relative_to(tmp))
    return archive


def labelled(client) -> set[tuple[str, str]]:
    """The grader's labelled objects. Other gradings on the engine may remove theirs while
    docker-py lists them (it inspects each one): list again then."""
    for _ in range(10):
        try:
            return {(kind, name) for kind, names in leftovers(client).items() for name in names}
        except docker.errors.NotFound:
            continue
    raise AssertionError("the engine's objects kept changing while being listed")


def tags(client) -> set[str]:
    return {t for i in client.api.images() for t in (i.get("RepoTags") or [])}


def test_release_collect_grade_feedback_export(tmp_path, docker_client, monkeypatch):
    monkeypatch.setenv(HIDDEN_ENV, str(HIDDEN))
    t0 = time.monotonic()
    before = labelled(docker_client)
    images_before = tags(docker_client)
    root = make_course(tmp_path)

    course.release(root)
    t_release = time.monotonic() - t0
    for lab in LABS_E2E:
        assert (root / "release" / lab / "enonce.ipynb").is_file()
        # The starter, never the solution, is handed out.
        for rel in get_lab(lab).files:
            if (root / "labs" / lab / rel).is_file():
                assert (root / "release" / lab / rel).read_bytes() == (LABS / lab / rel).read_bytes()

    collected = course.collect(root, submissions(root, tmp_path))
    assert {lab: sorted(s) for lab, s in collected.items()} == {lab: sorted(STUDENTS) for lab in LABS_E2E}
    assert not (root / "submitted" / "partiel" / LABS_E2E[0] / ".dockerignore").exists()

    # The starter's reference score, graded directly, while nbgrader grades everything.
    # Checks this host cannot judge earn nothing in nbgrader either: the solution's direct grading
    # says which.
    with ThreadPoolExecutor(max_workers=1) as pool:
        starter_ref = {lab: pool.submit(grade, extended(get_lab(lab), HIDDEN), LABS / lab)
                       for lab in LABS_E2E}
        solution_ref = {lab: pool.submit(grade, extended(get_lab(lab), HIDDEN), SOLUTIONS / lab)
                        for lab in HOST_DEPENDENT}
        t_grade = time.monotonic()
        graded = course.grade(root, workers=WORKERS)
        grading_s = time.monotonic() - t_grade
        starter_ref = {lab: f.result() for lab, f in starter_ref.items()}
        not_here = {lab: {r.id for r in f.result().results if r.skipped_here} for lab, f in solution_ref.items()}
    assert course.ungraded(root) == []
    assert len(graded) == len(LABS_E2E) * len(STUDENTS)
    # Nothing changed since: a second `make grade` grades nothing (incremental).
    assert course.grade(root, workers=WORKERS) == []
    course.feedback(root)
    csv_path = course.export(root)
    report = analytics.write_report(root)

    scores = {(row["assignment"], row["student_id"]): float(row["score"])
              for row in csv.DictReader(csv_path.open())}
    for lab in LABS_E2E:
        full = extended(get_lab(lab), HIDDEN)  # public and hidden checks
        checks = {c.id: c for c in full.checks}
        # nbgrader's total: the checks (public and hidden) and the question cells. The starter
        # leaves the questions empty: its score is the grader's alone.
        max_score = full.max_score + total(lab)
        here = max_score - sum(checks[i].points for i in not_here.get(lab, ()))
        mutant = next(v for v in variants("mutant") if v.lab == lab and v.name == MUTANTS[lab])
        assert scores[(lab, "solution")] == here, scores
        lost = set(mutant.fails) | not_here.get(lab, set())
        assert scores[(lab, "partiel")] == max_score - sum(checks[i].points for i in lost), scores
        assert scores[(lab, "starter")] == starter_ref[lab].score, (scores, starter_ref[lab].to_json())
        assert scores[(lab, "starter")] <= 0.2 * max_score
        assert float(next(r for r in csv.DictReader(csv_path.open()) if r["assignment"] == lab)
                     ["max_score"]) == max_score

        # Feedback: one HTML page per student and lab, naming each failed check in French.
        for student in STUDENTS:
            page = root / "feedback" / student / lab / "enonce.html"
            assert page.is_file(), page
        text = html.unescape((root / "feedback" / "partiel" / lab / "enonce.html").read_text())
        for check_id in set(mutant.fails) - not_here.get(lab, set()):
            assert f"{check_id} — {checks[check_id].title}" in text
            assert " : échoué." in text and "Attendu :" in text
        failed_starter = [r for r in starter_ref[lab].results if r.status is not Status.PASSED]
        text = html.unescape((root / "feedback" / "starter" / lab / "enonce.html").read_text())
        for r in failed_starter:
            assert f"{r.id} — {r.title}" in text
        text = html.unescape((root / "feedback" / "solution" / lab / "enonce.html").read_text())
        assert " : échoué." not in text and " : erreur." not in text
        # Its only failing cells are the checks this host cannot judge, and they say so (in the
        # page's « À reprendre » list and in the cell), without a traceback.
        assert "Traceback (most recent call last)" not in text
        assert text.count('class="a-reprendre"') == len(not_here.get(lab, ())), text[-3000:]
        assert text.count(" : non évalué sur cette machine.") == 2 * len(not_here.get(lab, ())), text[-3000:]
        for check_id in not_here.get(lab, ()):
            assert f"{check_id} — {checks[check_id].title}" in text

    # Class analytics: every lab, every check with its pass rate, the plots embedded.
    page = report.read_text()
    keep = ROOT / "build" / "nbgrader-e2e"  # the last run's report, for people to look at
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "rapport.html").write_text(page)
    assert page.count("data:image/png;base64,") == 2 * len(LABS_E2E)
    for lab in LABS_E2E:
        assert f"<h2>{lab}</h2>" in page and "3 rendus" in page
        for check in extended(get_lab(lab), HIDDEN).checks:
            assert f"<code>{check.id}</code>" in page

    # Nothing left behind: no labelled object of ours (other gradings on this engine may still be
    # running: give theirs time to go), and no image from the notebooks' hands-on cells.
    deadline = time.monotonic() + 120
    while (new := labelled(docker_client) - before) and time.monotonic() < deadline:
        time.sleep(2)
    assert not new, new
    assert not {t for t in tags(docker_client) if t.startswith(("lab0", "lab1"))} - images_before
    # The hidden check has its grade cell in the released notebook, its body cleared.
    released = (root / "release" / LABS_E2E[0] / "enonce.ipynb").read_text()
    assert '"grade_id": "01-pip-sans-cache"' in released and "pip install sans cache" not in released
    assert not (ROOT / "release").exists() or (ROOT / "release").stat().st_mtime < t0, \
        "the test wrote into the repository"
    print(f"\nnbgrader e2e: release {t_release:.0f} s, grading of {len(STUDENTS) * len(LABS_E2E)} submissions {grading_s:.0f} s, whole cycle "
          f"{time.monotonic() - t0:.0f} s; scores {scores}")
