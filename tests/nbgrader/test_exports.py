"""Exports an LMS can trust (autograder/classroom/exports.py), without Docker: a gradebook built with
nbgrader's API on a temporary course, fake autograded notebooks, nbgrader's own
generate_feedback on them."""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from autograder.classroom import course, exports
from cases import ROOT

LAB1, LAB2, LAB3 = "01-images-conteneurs", "02-volumes-persistance", "03-reseaux"
# Per lab: (grade cell, points). Max scores: 5, 4 and 11.
CELLS = {LAB1: [("01-a", 2.0), ("01-b", 3.0)], LAB2: [("02-a", 4.0)], LAB3: [("03-a", 11.0)]}
FAILED_MESSAGE = ("01-b — Le conteneur répond sur le port 8000 (3/3 pt) : échoué.\n"
                  "Attendu : une réponse HTTP 200.\nObservé : connexion refusée.")


def _gradebook(root: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{root / 'gradebook.db'}", course.COURSE_ID)


@pytest.fixture(scope="module")
def empty_course(tmp_path_factory) -> Path:
    """A course whose gradebook knows three labs and three students, and no submission (built
    once: creating a gradebook runs `alembic` from PATH, a few seconds)."""
    root = tmp_path_factory.mktemp("exports") / "cours"
    root.mkdir()
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    try:
        _fill(root)
    finally:
        os.environ["PATH"] = path
    return root


def _fill(root: Path) -> None:
    shutil.copy(ROOT / "nbgrader_config.py", root)
    with _gradebook(root) as gb:
        for lab, cells in CELLS.items():
            gb.add_assignment(lab)
            gb.update_or_create_notebook("enonce", lab)
            for name, points in cells:
                gb.add_grade_cell(name, "enonce", lab, max_score=points, cell_type="code")
        gb.add_student("ana", first_name="Ana", last_name="Durand, dite « Nana »", email="ana@ecole.fr")
        gb.add_student("ben", email="ben@ecole.fr")
        gb.add_student("cleo", email="cleo@ecole.fr")  # on the roster, handed nothing in


def _submit(root: Path, student: str, lab: str, scores: dict[str, float], *, penalty: float = 0.0,
            error: str = "AssertionError") -> None:
    """A graded submission: the gradebook's entry and an autograded notebook whose failed
    cells hold an error output (message ``FAILED_MESSAGE``, a traceback with host paths)."""
    with _gradebook(root) as gb:
        sub = gb.add_submission(lab, student, timestamp=datetime(2026, 12, 1, 10, 30, 5))
        for name, score in scores.items():
            gb.find_grade(name, "enonce", lab, student).auto_score = score
        sub.notebooks[0].late_submission_penalty = penalty
        gb.db.commit()
    cells = [nbformat.v4.new_markdown_cell("# Énoncé\nLancez `make check`.")]
    for name, points in CELLS[lab]:
        cell = nbformat.v4.new_code_cell(
            f"### Vérification : {name}\nfrom autograder.classroom.nbgrade import resultat\n"
            f"reussi, message = resultat({name!r})\nassert reussi, message")
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": name, "points": points, "locked": True,
                                     "solution": False, "task": False, "schema_version": 3}
        if scores[name] < points:
            evalue = (FAILED_MESSAGE + f"\nFichier lu : {root}/autograded/{student}/{lab}/Dockerfile"
                      if error == "AssertionError" else f"name 'x' is not defined ({root}/labs)")
            cell.outputs = [nbformat.v4.new_output(
                "error", ename=error, evalue=evalue,
                traceback=["\x1b[0;31m------------------------------------\x1b[0m",
                           f"\x1b[0;31m{error}\x1b[0m  Traceback (most recent call last)",
                           f"File \x1b[0;32m{ROOT}/autograder/classroom/nbgrade.py:174\x1b[0m, in verifier",
                           f"\x1b[0;31m{error}\x1b[0m: {evalue}"])]
        cells.append(cell)
    folder = root / "autograded" / student / lab
    folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "enonce.ipynb")
    (root / "submitted" / student / lab).mkdir(parents=True, exist_ok=True)


def _page(path: Path) -> str:
    """A feedback page's text without its style sheets (Pygments' CSS names « Generic.Traceback »)."""
    raw = path.read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<(style|script)\b.*?</\1>", "", raw, flags=re.S))


def _read(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def graded(tmp_path, empty_course) -> Path:
    root = tmp_path / "cours"
    shutil.copytree(empty_course, root)
    _submit(root, "ana", LAB1, {"01-a": 2.0, "01-b": 0.0})                  # 2 / 5
    _submit(root, "ana", LAB2, {"02-a": 4.0}, penalty=1.0)                  # 4 - 1 = 3 / 4
    _submit(root, "ben", LAB1, {"01-a": 2.0, "01-b": 3.0})                  # 5 / 5
    return root


# ---------------------------------------------------------------------------------------------
# grades.csv and grades-wide.csv
# ---------------------------------------------------------------------------------------------
def test_long_csv_leaves_labs_not_handed_in_empty(graded):
    long_path, wide_path, unsure = exports.export(graded)
    assert long_path == graded / "build" / "nbgrader" / "grades.csv" and unsure == []
    rows = _read(long_path)
    assert list(rows[0]) == exports.LONG_COLUMNS
    assert len(rows) == 3 * 3  # every student of the gradebook × every lab
    by = {(r["student_id"], r["assignment"]): r for r in rows}
    expected = {"status": "graded", "score": "2", "max_score": "5", "raw_score": "2", "late_penalty": "0",
                "timestamp": "2026-12-01T10:30:05Z", "email": "ana@ecole.fr", "first_name": "Ana"}
    assert {k: by["ana", LAB1][k] for k in expected} == expected
    assert (by["ana", LAB2]["score"], by["ana", LAB2]["raw_score"], by["ana", LAB2]["late_penalty"]) == ("3", "4", "1")
    for key in [("ana", LAB3), ("ben", LAB2), ("ben", LAB3), ("cleo", LAB1), ("cleo", LAB2), ("cleo", LAB3)]:
        assert by[key]["status"] == "missing" and by[key]["score"] == "" and by[key]["timestamp"] == "", by[key]
        assert by[key]["max_score"] != ""
    # A comma in a name stays in its column (nbgrader's own export does not quote).
    assert by["ana", LAB1]["last_name"] == "Durand, dite « Nana »"


def test_wide_csv_total_on_20_counts_missing_labs_as_zero(graded):
    _, wide_path, _ = exports.export(graded)
    text = wide_path.read_text(encoding="utf-8")
    rows = {r["student_id"]: r for r in _read(wide_path)}
    assert text.splitlines()[0] == f"student_id,email,last_name,first_name,{LAB1},{LAB2},{LAB3},handed_in,total_20"
    # ana: (2 + 3 + 0) / (5 + 4 + 11) × 20 = 5; ben: 5 / 20 × 20 = 5; cleo: 0.
    assert [rows["ana"][k] for k in (LAB1, LAB2, LAB3, "handed_in", "total_20")] == ["2", "3", "", "2", "5"]
    assert [rows["ben"][k] for k in (LAB1, LAB2, LAB3, "handed_in", "total_20")] == ["5", "", "", "1", "5"]
    assert [rows["cleo"][k] for k in (LAB1, LAB2, LAB3, "handed_in", "total_20")] == ["", "", "", "0", "0"]


def test_numbers_use_a_decimal_point_and_two_decimals():
    assert [exports.number(x) for x in (10.5, 11.0, 0.0, 0.1 + 0.2, 20 / 3, None, -0.0)] == \
        ["10.5", "11", "0", "0.3", "6.67", "", "0"]


def test_pending_and_ungradable_submissions_get_no_score_nor_total(graded):
    (graded / "submitted" / "cleo" / LAB3).mkdir(parents=True)  # handed in, not graded yet
    _submit(graded, "ben", LAB2, {"02-a": 0.0})
    nb_path = graded / "autograded" / "ben" / LAB2 / "enonce.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[1].outputs[0].evalue = "Correction impossible : pas de moteur Docker joignable."
    nbformat.write(nb, nb_path)
    long_path, wide_path, unsure = exports.export(graded)
    by = {(r["student_id"], r["assignment"]): r for r in _read(long_path)}
    assert (by["cleo", LAB3]["status"], by["cleo", LAB3]["score"]) == ("pending", "")
    assert (by["ben", LAB2]["status"], by["ben", LAB2]["score"], by["ben", LAB2]["raw_score"]) == ("ungradable", "", "0")
    wide = {r["student_id"]: r for r in _read(wide_path)}
    assert wide["ben"]["total_20"] == wide["cleo"]["total_20"] == "" and wide["ana"]["total_20"] == "5"
    assert (wide["ben"]["handed_in"], wide["cleo"]["handed_in"]) == ("2", "1")  # handed in, not yet graded
    assert {(r.student_id, r.lab) for r in unsure} == {("cleo", LAB3), ("ben", LAB2)}
    text = exports.summary_fr(unsure)
    assert "cleo/03-reseaux" in text and "ben/02-volumes-persistance" in text and "make grade" in text


def test_make_export_exits_1_and_says_why_when_a_score_is_missing(graded, capsys):
    assert course.main(["--root", str(graded), "export"]) == 0
    (graded / "submitted" / "cleo" / LAB1).mkdir(parents=True)
    assert course.main(["--root", str(graded), "export"]) == 1
    err = capsys.readouterr().err
    assert "Rendus pas encore notés" in err and "cleo/01-images-conteneurs" in err and "Traceback" not in err


def test_no_gradebook_is_a_french_message(tmp_path):
    with pytest.raises(SystemExit, match="make release"):
        exports.export(tmp_path)


def test_a_student_only_in_submitted_is_listed(graded):
    (graded / "submitted" / "dan" / LAB1).mkdir(parents=True)
    rows = _read(exports.export(graded)[0])
    assert {r["status"] for r in rows if r["student_id"] == "dan"} == {"pending", "missing"}


# ---------------------------------------------------------------------------------------------
# Feedback pages
# ---------------------------------------------------------------------------------------------
def test_scrub_removes_host_paths_but_keeps_container_paths(tmp_path):
    root = tmp_path / "cours"
    prefixes = exports.host_prefixes(root)
    text = (f"lu dans {root}/autograded/ana/{LAB1}/Dockerfile, copié dans /tmp/autograder-x1y2/{LAB1}/app.py ; "
            f"le cours est {root}/labs ; dans le conteneur : /app/main.py, /root/.cache, /usr/local/bin/python")
    out = exports.scrub(text, prefixes)
    assert str(root) not in out and "autograder-x1y2" not in out
    assert "lu dans Dockerfile" in out and "copié dans app.py" in out and "…/labs" in out
    assert "/app/main.py, /root/.cache, /usr/local/bin/python" in out


def test_feedback_is_french_without_traceback_nor_paths(graded):
    _submit(graded, "ben", LAB2, {"02-a": 0.0}, error="NameError")
    course.feedback(graded)
    page = graded / "feedback" / "ana" / LAB1 / "enonce.html"
    text = _page(page)
    assert '<html lang="fr">' in text and text.count("<body") == 1
    assert FAILED_MESSAGE in text  # the failed check, with its French message
    assert "Fichier lu : Dockerfile" in text  # the submission's path made relative
    assert "Traceback" not in text and "nbgrade.py" not in text and "\x1b[" not in text
    assert "/work/" not in text and str(graded) not in text and str(ROOT) not in text
    # nbgrader's English labels are translated; numbers use a decimal comma.
    for english in ("Score:", "Test cell", "Student's answer", "(Top)", "Grade cell", "Comments:"):
        assert english not in text, english
    assert f"{LAB1} : note 2 / 5" in text and "À reprendre" in text and "✘ à reprendre" in text
    assert text.count('class="a-reprendre"') == 1 and "✔ réussi" in text
    late = _page(graded / "feedback" / "ana" / LAB2 / "enonce.html")
    assert "Pénalité de retard : −1" in late and "Toutes les vérifications sont réussies." in late
    other = _page(graded / "feedback" / "ben" / LAB2 / "enonce.html")
    assert "NameError : name 'x' is not defined (…/labs)" in other and "Traceback" not in other


def test_nbgrader_config_sets_the_feedback_template_for_generate_feedback_only():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    html_config = config.GenerateFeedback.HTMLExporter
    assert html_config.template_name == exports.TEMPLATE_NAME
    assert Path(html_config.extra_template_basedirs[0]) == exports.TEMPLATES
    assert (exports.TEMPLATES / exports.TEMPLATE_NAME / "index.html.j2").is_file()
    assert "template_name" not in config.HTMLExporter  # the formgrader keeps its own templates
    assert exports.CleanFeedback in config.GenerateFeedback.preprocessors
