"""The nbgrader course without Docker: configuration, grade cells, verifier, collect, release."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder.classroom import course, nbgrade
from autograder.registry import all_labs
from cases import LABS, ROOT, SOLUTIONS

LAB_IDS = [lab.id for lab in all_labs()]


@pytest.fixture(scope="module")
def config() -> Config:
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


# ---------------------------------------------------------------------------------------------
# nbgrader_config.py
# ---------------------------------------------------------------------------------------------
def test_course_directories(config):
    cd = config.CourseDirectory
    assert Path(cd.root) == ROOT and cd.source_directory == "labs" and cd.course_id
    assert cd.db_url == f"sqlite:///{ROOT / 'gradebook.db'}"
    ignored = (ROOT / ".gitignore").read_text().split()
    for name in ("release", "submitted", "autograded", "feedback"):
        assert getattr(cd, f"{name}_directory") == name and f"{name}/" in ignored
    assert "gradebook.db" in ignored
    assert config.Execute.timeout >= 1800


def test_reference_solutions_are_outside_the_source_directory(config):
    source = (ROOT / config.CourseDirectory.source_directory).resolve()
    assert SOLUTIONS.resolve() != source and source not in SOLUTIONS.resolve().parents
    assert not any(p.name == "solutions" for p in source.rglob("*"))


def test_exclude_overwriting_is_every_starter_file(config):
    excluded = config.Autograde.exclude_overwriting
    assert sorted(excluded) == LAB_IDS
    for lab in all_labs():
        folder = LABS / lab.id
        expected = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                          if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts
                          and "__pycache__" not in p.parts)
        assert sorted(excluded[lab.id]) == expected
        # What the student edits is never replaced by the starter at autograde.
        assert {f for f in lab.files if (folder / f).is_file()} <= set(excluded[lab.id])


def test_zip_collect_accepts_every_lab_file_type(config):
    valid = set(config.FileNameCollectorPlugin.valid_ext)
    for base in (LABS, SOLUTIONS):
        for path in base.rglob("*"):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                assert os.path.splitext(path.name)[1] in valid, path
    assert {"", ".ipynb", ".yaml", ".sql", ".sh"} <= valid  # "" = Dockerfile, .dockerignore


def test_autograde_runs_the_grade_cells_only(config):
    from nbgrader.preprocessors import Execute

    pre = config.Autograde.autograde_preprocessors
    assert issubclass(pre[0], Execute) and pre[0] is not Execute
    assert config.IgnorePattern.enabled


# ---------------------------------------------------------------------------------------------
# Grade cells: one per check, generated from the registry
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.id)
def test_grade_cells_match_the_registry(lab):
    """Ids, points and order of the grade cells are the registries': the questions
    (each lab module's QUESTIONS, through autograder/classroom/quiz.py), then the checks; each question's answer cell comes right before its
    grade cell (at autograde it must run first)."""
    from autograder.classroom.quiz import questions

    nb = nbformat.read(LABS / lab.id / "enonce.ipynb", as_version=4)
    nbformat.validate(nb)
    qs = questions(lab.id)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [(c.metadata.nbgrader.grade_id, c.metadata.nbgrader.points) for c in graded] == \
        [(q.id, q.points) for q in qs] + [(c.id, c.points) for c in lab.checks]
    for cell in graded[len(qs):]:
        meta = cell.metadata.nbgrader
        assert cell.cell_type == "code" and meta.locked and not meta.solution
        assert meta.schema_version == 3
        assert f"resultat({meta.grade_id!r})" in cell.source and "assert reussi, message" in cell.source
    for q, cell in zip(qs, graded):
        meta = cell.metadata.nbgrader
        assert cell.cell_type == "code" and meta.locked and not meta.solution
        assert f"corriger({q.id!r}, {q.variable})" in cell.source
        answer = nb.cells[nb.cells.index(cell) - 1]
        assert answer.metadata.nbgrader == {"grade": False, "grade_id": q.id + nbgrade.ANSWER_SUFFIX,
                                            "locked": False, "schema_version": 3, "solution": True,
                                            "task": False}
        assert answer.cell_type == "code" and answer.source.startswith(f'{q.variable} = ""')
    # The sections close the notebook; nothing before them carries nbgrader metadata.
    first = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader"))
    assert nb.cells[first].source.startswith(nbgrade.QUIZ_TITLE)
    section = first + 1 + 3 * len(qs)
    assert nb.cells[section].source.startswith(nbgrade.SECTION_TITLE)
    assert len(nb.cells) - section == len(lab.checks) + 1


def test_grade_cells_are_up_to_date_and_valid_for_nbgrader():
    proc = subprocess.run([sys.executable, "-m", "autograder", "nbgrader-cells", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"run `make nbgrader-cells` (the checks changed):\n{proc.stderr}"
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    validator = MetadataValidatorV3()
    for lab in all_labs():
        validator.validate_nb(nbformat.read(LABS / lab.id / "enonce.ipynb", as_version=4))


def test_regenerating_the_section_keeps_the_other_cells(tmp_path):
    lab = all_labs()[0]
    nb = json.loads((LABS / lab.id / "enonce.ipynb").read_text())
    first = next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader"))
    without = dict(nb, cells=nb["cells"][:first])
    again = nbgrade.with_section(nbgrade.with_section(without, lab), lab)
    assert again["cells"][:first] == nb["cells"][:first]
    assert again["cells"] == nb["cells"]


# ---------------------------------------------------------------------------------------------
# verifier(): what a grade cell does with the grader's report
# ---------------------------------------------------------------------------------------------
def _report(status: str, skipped_here: bool = False) -> dict:
    return {"lab": "01-images-conteneurs", "score": 0, "max_score": 10, "checks": [
        {"id": "01-build", "title": "L'image se construit", "points": 2.0,
         "earned": 2.0 if status == "passed" else 0.0, "status": status, "skipped_here": skipped_here,
         "message": "Attendu : ceci\nObservé : cela\nÀ faire : corriger"}]}


@pytest.fixture
def fake_grader(monkeypatch, tmp_path):
    calls = []

    def run(lab, folder):
        calls.append((lab, folder))
        return fake_grader.report

    monkeypatch.setattr(nbgrade, "_run_grader", run)
    monkeypatch.setattr(nbgrade, "_CACHE", {})
    fake_grader.calls = calls
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    return fake_grader


def test_verifier_grades_once_and_passes_silently_at_autograde(fake_grader, tmp_path, monkeypatch, capsys):
    fake_grader.report = _report("passed")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    nbgrade.verifier("01-build", tmp_path)
    nbgrade.verifier("01-build", tmp_path)
    assert len(fake_grader.calls) == 1 and fake_grader.calls[0][0] == "01"
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    # A changed file is graded again (the student fixed something and re-runs the cells).
    (tmp_path / "Dockerfile").write_text("FROM y\n")
    nbgrade.verifier("01-build", tmp_path)
    assert len(fake_grader.calls) == 2


def test_verifier_shows_the_result_to_a_student(fake_grader, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    fake_grader.report = _report("passed")
    nbgrade.verifier("01-build", tmp_path)
    assert "✔ 01-build" in capsys.readouterr().out


@pytest.mark.parametrize("status,skipped_here,word", [("failed", False, "échoué"),
                                                      ("skipped", False, "non évalué"),
                                                      ("skipped", True, "non évalué sur cette machine"),
                                                      ("error", False, "erreur")])
def test_verifier_raises_the_french_message(fake_grader, tmp_path, status, skipped_here, word):
    fake_grader.report = _report(status, skipped_here)
    with pytest.raises(AssertionError) as exc:
        nbgrade.verifier("01-build", tmp_path)
    assert word in str(exc.value) and "Attendu : ceci" in str(exc.value)


def test_verifier_fails_when_the_grader_cannot_run(fake_grader, tmp_path):
    fake_grader.report = {"error": "Docker is not reachable", "error_fr": "Docker ne répond pas"}
    with pytest.raises(AssertionError, match="Correction impossible : Docker ne répond pas"):
        nbgrade.verifier("01-build", tmp_path)
    fake_grader.report = _report("passed")
    nbgrade._CACHE.clear()
    with pytest.raises(AssertionError, match="inconnue"):
        nbgrade.verifier("01-nope", tmp_path)


def test_real_grader_reports_an_unreadable_folder_without_stderr(tmp_path, monkeypatch):
    """The child process's stderr never reaches the cell; its JSON error becomes the message."""
    monkeypatch.setattr(nbgrade, "_CACHE", {})
    report = nbgrade._run_grader("01", tmp_path / "absent")
    assert "checks" not in report and (report.get("error_fr") or report.get("error"))


# ---------------------------------------------------------------------------------------------
# collect / release
# ---------------------------------------------------------------------------------------------
def _course(tmp_path: Path, labs=("01-images-conteneurs",)) -> Path:
    root = tmp_path / "cours"
    (root / "labs").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for lab in labs:
        shutil.copytree(LABS / lab, root / "labs" / lab, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


def test_collect_a_folder_and_a_zip(tmp_path):
    root = _course(tmp_path)
    src = tmp_path / "rendus"
    (src / "ana" / "01").mkdir(parents=True)
    (src / "ana" / "01" / "Dockerfile").write_text("FROM python:3.13-slim\n")
    (src / "ana" / "01" / ".dockerignore").write_text(".env\n")
    (src / "ana" / "01" / "__pycache__").mkdir()
    (src / "ana" / "99-inconnu").mkdir()
    assert course.collect(root, src) == {"01-images-conteneurs": ["ana"]}
    got = root / "submitted" / "ana" / "01-images-conteneurs"
    assert sorted(p.name for p in got.iterdir()) == [".dockerignore", "Dockerfile", "timestamp.txt"]

    # Files without the notebook: the released one stands in (nbgrader gives 0 without a notebook).
    (root / "release" / "01-images-conteneurs").mkdir(parents=True)
    (root / "release" / "01-images-conteneurs" / "enonce.ipynb").write_text("{}")
    course.collect(root, src)
    assert (got / "enonce.ipynb").read_text() == "{}"

    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # wrapped in one top folder, as LMS exports are
        zf.writestr("export/ben/01-images-conteneurs/Dockerfile", "FROM x\n")
        zf.writestr("export/ben/01-images-conteneurs/initdb/a.sql", "select 1;\n")
    assert course.collect(root, archive) == {"01-images-conteneurs": ["ben"]}
    assert (root / "submitted" / "ben" / "01-images-conteneurs" / "initdb" / "a.sql").is_file()

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../outside/01-images-conteneurs/Dockerfile", "FROM x\n")
    with pytest.raises(SystemExit, match="refusée"):
        course.collect(root, evil)
    assert not (tmp_path / "outside").exists()


def test_collect_a_bulk_download_of_hand_in_archives(tmp_path):
    """Moodle's « download all submissions »: one folder per student, each holding the zip that
    make handin wrote (<student>/<NN-slug>/…); an archive inside a hand-in stays closed."""
    root = _course(tmp_path)

    def handin(student: str, extra: dict[str, bytes] = {}) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"{student}/01-images-conteneurs/Dockerfile", "FROM python:3.13-slim\n")
            for name, data in extra.items():
                zf.writestr(f"{student}/01-images-conteneurs/{name}", data)
        return buf.getvalue()

    inner = handin("zoe")  # a hand-in hidden inside another one: copied as a file, never opened
    bulk = tmp_path / "moodle.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        zf.writestr("Ana Martin_1021_assignsubmission_file_/rendu-01-images-conteneurs.zip", handin("ana.martin"))
        zf.writestr("Ben Petit_1022_assignsubmission_file_/rendu-01-images-conteneurs.zip",
                    handin("ben.petit", {"rendu-01-images-conteneurs.zip": inner}))
    assert course.collect(root, bulk) == {"01-images-conteneurs": ["ana.martin", "ben.petit"]}
    got = root / "submitted" / "ben.petit" / "01-images-conteneurs"
    assert (got / "Dockerfile").read_text() == "FROM python:3.13-slim\n"
    assert (got / "rendu-01-images-conteneurs.zip").is_file()
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["ana.martin", "ben.petit"]


def test_release_hands_out_the_starter_with_locked_grade_cells(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_HIDDEN_CHECKS", str(HIDDEN))
    root = _course(tmp_path)
    course.release(root)
    lab = all_labs()[0]
    out = root / "release" / lab.id
    assert (out / "Dockerfile").read_bytes() == (LABS / lab.id / "Dockerfile").read_bytes()
    nb = nbformat.read(out / "enonce.ipynb", as_version=4)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    # The questions, the public checks, then the instructor's hidden one: its cell is there, its
    # body is not.
    from autograder.classroom.quiz import questions, total

    quiz = questions(lab.id)
    assert [c.metadata.nbgrader.grade_id for c in graded] == \
        [q.id for q in quiz] + [c.id for c in lab.checks] + ["01-pip-sans-cache"]
    assert all(c.metadata.nbgrader.get("checksum") for c in graded)
    assert "resultat" not in graded[-1].source and "pip install sans cache" not in graded[-1].source
    # The answer cells are handed out as they are, not replaced by nbgrader's stub.
    cells = {c.id: c for c in nb.cells}
    for q in quiz:
        assert cells[q.id + nbgrade.ANSWER_SUFFIX].source == f'{q.variable} = ""  # votre réponse'
    assert "NotImplementedError" not in (out / "enonce.ipynb").read_text()
    # nbgrader's total for the lab: the grader's points, the questions', the hidden check's.
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course.COURSE_ID) as gb:
        assert gb.find_assignment(lab.id).max_score == lab.max_score + total(lab.id) + 0.5

    # nbgrader's own zip_collect (an LMS archive in downloaded/<lab>/archive/) keeps the lab's
    # non-notebook files, Dockerfile and .dockerignore included.
    archive = root / "downloaded" / lab.id / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "export.zip", "w") as zf:
        zf.writestr(f"export/ana/{lab.id}/Dockerfile", "FROM python:3.13-slim\n")
        zf.writestr(f"export/ana/{lab.id}/.dockerignore", ".env\n")
        zf.writestr(f"export/ana/{lab.id}/deps/requirements.txt", "flask\n")
        zf.write(out / "enonce.ipynb", f"export/ana/{lab.id}/enonce.ipynb")
    course.nbgrader(root, "zip_collect", lab.id)
    got = root / "submitted" / "ana" / lab.id
    assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()) == \
        [".dockerignore", "Dockerfile", "deps/requirements.txt", "enonce.ipynb"]
    assert (root / "gradebook.db").is_file()


def test_verifier_reads_a_report_graded_ahead(fake_grader, tmp_path, tmp_path_factory, monkeypatch):
    """`make grade GRADER_WORKERS=N` grades ahead in parallel; the cells then read those reports."""
    cache = tmp_path_factory.mktemp("reports")
    monkeypatch.setenv(nbgrade.CACHE_ENV, str(cache))
    fake_grader.report = _report("failed")
    (cache / f"{nbgrade.report_key('01', tmp_path)}.json").write_text(json.dumps(_report("passed")))
    nbgrade.verifier("01-build", tmp_path)
    assert fake_grader.calls == []
    # Another folder content (or a planted file) has another key: graded for real.
    (tmp_path / "extra.txt").write_text("x")
    with pytest.raises(AssertionError):
        nbgrade.verifier("01-build", tmp_path)
    assert len(fake_grader.calls) == 1


# ---------------------------------------------------------------------------------------------
# Hidden checks
# ---------------------------------------------------------------------------------------------
HIDDEN = Path(__file__).resolve().parent / "hidden"


def test_hidden_checks_extend_a_copy_of_the_lab():
    from autograder.classroom.hidden import extended, hidden_checks
    from autograder.registry import get_lab

    lab = get_lab("01")
    before = [c.id for c in lab.checks]
    more = extended(lab, HIDDEN)
    assert [c.id for c in more.checks] == before + ["01-pip-sans-cache"]
    assert [c.id for c in lab.checks] == before and get_lab("01").max_score == 10
    assert [c.id for c in hidden_checks(lab, HIDDEN)] == ["01-pip-sans-cache"]
    assert extended(get_lab("02"), HIDDEN).checks == get_lab("02").checks
    cell = nbgrade.hidden_cells(hidden_checks(lab, HIDDEN))[0]
    source = "".join(cell["source"])
    assert "### BEGIN HIDDEN TESTS" in source and cell["metadata"]["nbgrader"]["points"] == 0.5


def test_make_check_never_loads_hidden_checks(monkeypatch, tmp_path, capsys):
    """Only `--hidden` (passed by the grade cells when AUTOGRADER_HIDDEN_CHECKS is set) adds them."""
    from autograder import cli
    from autograder.core import Report

    seen = []

    def fake_grade(lab, folder):
        seen.append([c.id for c in lab.checks])
        return Report(lab=lab.id, title=lab.title, results=[], duration_s=0)

    monkeypatch.setattr(cli, "grade", fake_grade)
    monkeypatch.setenv("AUTOGRADER_HIDDEN_CHECKS", str(HIDDEN))
    cli.main(["check", str(tmp_path), "--lab", "01", "--json"])
    cli.main(["check", str(tmp_path), "--lab", "01", "--json", "--hidden", str(HIDDEN)])
    assert "01-pip-sans-cache" not in seen[0] and "01-pip-sans-cache" in seen[1]


def test_autograde_skips_the_hands_on_cells(tmp_path):
    """At autograde only nbgrader cells run: `!docker build -t lab01 .` and friends do not."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("open('pratique.txt', 'w').write('x')"),
                nbformat.v4.new_code_cell("open('note.txt', 'w').write('x')")]
    nb.cells[1].metadata["nbgrader"] = {"grade": True, "grade_id": "01-x", "points": 1, "locked": True,
                                        "solution": False, "schema_version": 3}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    course.GradeCellsExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert (tmp_path / "note.txt").is_file() and not (tmp_path / "pratique.txt").exists()
    assert nb.cells[0].outputs == [] and nb.cells[1].execution_count == 1


def test_gradings_that_could_not_run_are_reported(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("assert reussi, message")
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", traceback=[],
                                           evalue="Correction impossible : Docker ne répond pas")]
    nb.cells = [cell]
    for student, broken in (("ana", True), ("ben", False)):
        path = tmp_path / "autograded" / student / "01-images-conteneurs" / "enonce.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb if broken else nbformat.v4.new_notebook(), path)
    assert course.ungraded(tmp_path) == ["ana/01-images-conteneurs"]


def test_grading_ahead_keeps_one_report_per_folder_and_never_an_error(tmp_path, monkeypatch):
    root = _course(tmp_path)
    for student in ("ana", "ben"):
        folder = root / "submitted" / student / "01-images-conteneurs"
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(f"FROM {student}\n")
    from autograder.engine import batch

    def child(job):  # a stand-in for `python -m autograder check DIR --json`
        out = _report("passed") if "ana" in str(job.folder) else {"error_fr": "Docker ne répond pas"}
        return [sys.executable, "-c", f"print({json.dumps(json.dumps(out))})"]

    monkeypatch.setattr(batch, "command", child)
    cache = course.grade_ahead(root, workers=2)
    ana = root / "submitted" / "ana" / "01-images-conteneurs"
    assert [p.name for p in cache.iterdir()] == [f"{nbgrade.report_key('01', ana)}.json"]
