"""The question cells (each lab module's QUESTIONS, graded by autograder/classroom/quiz.py), tested in
both directions, without Docker.

The reference answers live here (quiz_answers.toml), never in the notebooks: every reference and
every valid alternative passes, every plausible wrong answer fails with the French explanation.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from autograder.classroom import course, nbgrade, quiz
from autograder.readers import answers
from autograder.registry import all_labs, all_questions
from cases import LABS

ANSWERS = tomllib.loads((Path(__file__).resolve().parent / "quiz_answers.toml").read_text(encoding="utf-8"))
QUESTIONS = {q.id: q for q in quiz.QUESTIONS}
ROOT = Path(__file__).resolve().parents[2]
SECTION = "# Questions de cours"


def _cases(key: str):
    return [pytest.param(qid, answer, id=f"{qid}:{answer}") for qid, d in ANSWERS.items() for answer in d[key]]


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------
def test_every_lab_has_one_or_two_questions_with_stable_ids():
    ids = [q.id for q in quiz.QUESTIONS]
    assert len(ids) == len(set(ids))
    assert len({q.variable for q in quiz.QUESTIONS}) == len(ids)
    for lab in all_labs():
        qs = quiz.questions(lab.id)
        assert 1 <= len(qs) <= 2, lab.id
        for q in qs:
            assert re.fullmatch(rf"{lab.id[:2]}-q-[a-z0-9-]+", q.id)
            assert q.variable.isidentifier() and q.variable.startswith("reponse_")
            assert q.points == 0.5 and q.kind in (quiz.COMMANDE, quiz.CHOIX, quiz.VALEUR)
            assert q.prompt and q.explanation and "Voir" in q.explanation
            assert (q.kind == quiz.CHOIX) == bool(q.choices)
            # No id shared with a check of the grader (one grade_id per nbgrader cell).
            assert q.id not in {c.id for c in lab.checks}


def test_every_question_has_reference_answers_and_two_wrong_ones():
    assert sorted(ANSWERS) == sorted(QUESTIONS)
    for qid, d in ANSWERS.items():
        assert d["reference"] and len(d["wrong"]) >= 2, qid


@pytest.mark.parametrize("qid,answer", _cases("reference") + _cases("valid"))
def test_right_answers_pass(qid, answer, capsys):
    quiz.corriger(qid, answer)
    out = capsys.readouterr()
    assert out.out.startswith(f"✔ {qid}") and out.err == ""


@pytest.mark.parametrize("qid,answer", _cases("wrong"))
def test_wrong_answers_fail_with_the_french_explanation(qid, answer, capsys):
    with pytest.raises(AssertionError) as exc:
        quiz.corriger(qid, answer)
    message = str(exc.value)
    assert f"{qid} (0,5 pt) : réponse incorrecte." in message
    assert f"Attendu : {QUESTIONS[qid].explanation}" in message
    # The explanation says what was expected in words, never the answer itself.
    for ref in ANSWERS[qid]["reference"] + ANSWERS[qid]["valid"]:
        if len(ref.strip()) > 2:
            assert ref.strip() not in QUESTIONS[qid].explanation
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_answer_says_where_to_write(empty):
    with pytest.raises(AssertionError, match="pas de réponse.*reponse_volumes"):
        quiz.corriger("02-q-volumes", empty)


def test_v1_compose_is_named_as_such():
    ok, message = quiz.evaluer("09-q-run-dbt", "docker-compose run --rm dbt")
    assert not ok and "Compose v1" in message and "`docker compose`" in message


def test_multiple_choice_accepts_a_list_and_refuses_unknown_letters():
    assert quiz.evaluer("02-q-down-v", ["d", "c"])[0]
    ok, message = quiz.evaluer("02-q-down-v", "C, D, Z")
    assert not ok and "lettres parmi A, B, C, D, E" in message


def _question_section(lab) -> tuple[Path, int, str]:
    """A lab module's « Questions de cours » section: its file, first line and text (the module's end)."""
    path = Path(sys.modules[_module_of(lab)].__file__)
    lines = path.read_text(encoding="utf-8").split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(SECTION)]
    assert len(starts) == 1, f"{path.name}: one « {SECTION} » section, at the end of the module"
    return path, starts[0] + 1, "\n".join(lines[starts[0]:])


def _module_of(lab) -> str:
    [name] = [m for m, module in sys.modules.items()
              if m.startswith("autograder.labs.lab") and getattr(module, "LAB", None) is lab]
    return name


@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.id)
def test_a_labs_questions_live_at_the_end_of_its_module(lab):
    """The registry's questions of a lab are its module's QUESTIONS, their checkers defined in its
    « Questions de cours » section (or the shared readers.answers), after every check."""
    path, first, section = _question_section(lab)
    module = sys.modules[_module_of(lab)]
    assert [q for q in all_questions() if q.lab == lab.number] == list(module.QUESTIONS) != []
    for q in module.QUESTIONS:
        code = q.check.__code__
        if code.co_filename == answers.__file__:
            continue
        assert code.co_filename == str(path) and code.co_firstlineno >= first, (q.id, code.co_firstlineno)
    assert "@LAB.check" not in section


def test_answers_are_parsed_never_executed():
    sources = {path: (ROOT / path).read_text(encoding="utf-8")
               for path in ("autograder/readers/answers.py", "autograder/classroom/quiz.py")}
    for lab in all_labs():
        path, _, section = _question_section(lab)
        sources[path.name] = section
    for path, source in sources.items():
        for forbidden in ("subprocess", "os.system", "eval(", "exec(", "import os", "sandbox", "Grading"):
            assert forbidden not in source, (path, forbidden)


# ---------------------------------------------------------------------------------------------
# The notebooks
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.id)
def test_notebooks_hold_the_questions_but_no_answer(lab):
    nb = nbformat.read(LABS / lab.id / "enonce.ipynb", as_version=4)
    cells = {c.id: c for c in nb.cells}
    for q in quiz.questions(lab.id):
        answer = cells[q.id + nbgrade.ANSWER_SUFFIX]
        # The answer cell is the empty template: no solution markers, nothing filled in.
        assert answer.source == f'{q.variable} = ""  # votre réponse'
        assert "BEGIN SOLUTION" not in answer.source
        generated = "\n".join(cells[i].source for i in (q.id + nbgrade.PROMPT_SUFFIX, q.id))
        for ref in ANSWERS[q.id]["reference"] + ANSWERS[q.id]["valid"]:
            ref = ref.strip()
            if q.kind != quiz.CHOIX and len(ref) > 2:
                assert ref not in generated + answer.source, (q.id, ref)
        if q.kind == quiz.CHOIX:
            for letter, _ in q.choices:
                assert f"- **{letter}.**" in cells[q.id + nbgrade.PROMPT_SUFFIX].source


def test_answer_cells_run_before_their_grade_cells_at_autograde(tmp_path):
    """At autograde only nbgrader cells run: the answer cell (a solution cell) defines the variable
    its grade cell reads; the hands-on cells stay untouched."""
    lab = all_labs()[1]
    cells = [nbformat.from_dict(c) for c in nbgrade.quiz_cells(lab)]
    for cell in cells:
        cell.source = "".join(cell.source)
    q1, q2 = quiz.questions(lab.id)
    ref = ANSWERS[q1.id]["reference"][0]
    answer = next(c for c in cells if c.id == q1.id + nbgrade.ANSWER_SUFFIX)
    answer.source = f"{q1.variable} = {ref!r}"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("open('pratique.txt', 'w').write('x')"), *cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    course.GradeCellsExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert not (tmp_path / "pratique.txt").exists()
    out = {c.id: c.outputs for c in nb.cells if c.cell_type == "code"}
    assert [o.get("text") for o in out[q1.id]] == [f"✔ {q1.id} (0,5 pt) : bonne réponse.\n"]
    assert out[q2.id][0].output_type == "error" and "pas de réponse" in out[q2.id][0].evalue
    assert not any(o.get("name") == "stderr" for outs in out.values() for o in outs)


def test_nbgrader_scores_the_questions(tmp_path, monkeypatch):
    """Release → collect → autograde → export with nbgrader itself, Docker out of reach (the check
    cells fail fast with « Correction impossible »): the questions alone are scored, the answered
    notebook gets their points, the starter 0, and the assignment's total is checks + questions."""
    import csv
    import shutil

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.delenv("AUTOGRADER_HIDDEN_CHECKS", raising=False)
    lab = all_labs()[1]
    root = tmp_path / "cours"
    (root / "labs").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(LABS / lab.id, root / "labs" / lab.id, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    course.release(root, [lab.id])
    released = root / "release" / lab.id
    src = tmp_path / "rendus"
    for student in ("juste", "vide"):
        shutil.copytree(released, src / student / lab.id)
    nb = nbformat.read(released / "enonce.ipynb", as_version=4)
    for q in quiz.questions(lab.id):
        cell = next(c for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("grade_id") == q.id + nbgrade.ANSWER_SUFFIX)
        cell.source = f"{q.variable} = {ANSWERS[q.id]['reference'][0]!r}"
    nbformat.write(nb, src / "juste" / lab.id / "enonce.ipynb")
    course.collect(root, src)
    course.grade(root)
    rows = {r["student_id"]: r for r in csv.DictReader(course.export(root).open())}
    # Without Docker the checks could not be graded: the export leaves the score empty (an LMS
    # must not record it) and keeps the gradebook's figure, the questions alone, in raw_score.
    assert rows["juste"]["status"] == rows["vide"]["status"] == "ungradable"
    assert rows["juste"]["score"] == rows["vide"]["score"] == ""
    assert float(rows["juste"]["raw_score"]) == quiz.total(lab.id)
    assert float(rows["vide"]["raw_score"]) == 0
    assert float(rows["juste"]["max_score"]) == lab.max_score + quiz.total(lab.id)
    graded = nbformat.read(root / "autograded" / "juste" / lab.id / "enonce.ipynb", as_version=4)
    for q in quiz.questions(lab.id):
        cell = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == q.id)
        assert [o.get("text") for o in cell.outputs] == [f"✔ {q.id} (0,5 pt) : bonne réponse.\n"]
