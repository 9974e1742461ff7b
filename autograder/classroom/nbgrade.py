"""Grade cells of the lab notebooks: the question cells, then one grade cell per check.

Each ``labs/NN-slug/enonce.ipynb`` ends with two generated sections (``python -m autograder
nbgrader-cells``), the only cells of the notebook that carry nbgrader metadata:

* « Questions de cours », from :mod:`autograder.classroom.quiz`: per question, a locked prompt, an nbgrader
  answer cell (``solution``, not graded) holding ``reponse_xxx = ""`` and nothing else (no solution
  markers: ``labs/`` is both nbgrader's source and what students open; the reference answers live
  in the tests), then a locked grade cell (``grade_id`` = the question id, its points) calling
  :func:`autograder.classroom.quiz.corriger`. The answer cell comes first: at autograde, where only nbgrader
  cells run, it defines the variable its grade cell reads.
* « Notation automatique »: one locked nbgrader grade cell per check of the lab (``grade_id`` =
  the check id, ``points`` = the check's points), from the check registry.

A lab's nbgrader total is therefore the grader's points (10) plus its questions'.
Each cell asserts :func:`resultat` (a plain assert, so a failure shows the cell and the French
message, not the grader's code)::

    from autograder.classroom.nbgrade import resultat
    reussi, message = resultat("01-build")
    assert reussi, message

The first call in a kernel grades the lab once, on the files of the notebook's folder (the
current directory: ``autograded/<student>/<lab>/`` under ``nbgrader autograde``, where
``NBGRADER_EXECUTION`` is set), in a child process (``python -m autograder check --json``) so
that nothing the grader logs reaches the cell's stderr (nbgrader gives 0 to a grade cell that
writes to stderr). Later calls read the cached report. A check that passed is silent under
nbgrader (and prints one line for a student in JupyterLab); any other outcome fails the assert
with the French message (expected, observed, next step; skipped as a dependency, or not gradable
on this host, says so).

The cache is keyed by the folder and the contents of its files (notebooks left out), so a student
who edits the Dockerfile and re-runs the cells is graded again, once.

"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

from autograder.report import _fmt


SECTION_TITLE = "## Notation automatique"
SECTION_ID = "notation-automatique"
CELL_MARK = "# Notation automatique"
QUIZ_TITLE = "## Questions de cours"
QUIZ_ID = "questions-de-cours"
QUIZ_MARK = "# Question de cours"
ANSWER_SUFFIX = "-reponse"
PROMPT_SUFFIX = "-enonce"
EXECUTION_ENV = "NBGRADER_EXECUTION"
HIDDEN_ENV = "AUTOGRADER_HIDDEN_CHECKS"
# A folder of reports graded ahead, in parallel, by `make grade` (autograder.classroom.course): the grade
# cells read them instead of grading again. Keyed by the lab and the files' digest; outside the
# submissions, so a student cannot plant one.
CACHE_ENV = "AUTOGRADER_REPORT_CACHE"
SKIPPED_PARTS = {".ipynb_checkpoints", "__pycache__"}
GRADING_TIMEOUT_S = 1800

_CACHE: dict[tuple[str, str, str], dict] = {}


# ---------------------------------------------------------------------------------------------
# Student / autograde side: the function the grade cells call
# ---------------------------------------------------------------------------------------------
def fingerprint(folder: Path) -> str:
    """A digest of the folder's files (paths and contents), notebooks and checkpoints left out."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if SKIPPED_PARTS & set(rel.parts) or path.suffix in (".ipynb", ".pyc") or not path.is_file() \
                or path.is_symlink():
            continue
        h.update(str(rel).encode() + b"\0")
        try:
            h.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


def _run_grader(lab: str, folder: Path) -> dict:
    """``python -m autograder check`` in a child process; its JSON report (or the error)."""
    cmd = [sys.executable, "-m", "autograder", "check", str(folder), "--lab", lab, "--json"]
    hidden = os.environ.get(HIDDEN_ENV, "").strip()
    if hidden:  # the instructor's hidden checks, at grading time only (see autograder.classroom.hidden)
        cmd += ["--hidden", hidden]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONWARNINGS")}
    env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=GRADING_TIMEOUT_S)
    except BaseException:
        # Ctrl-C in JupyterLab, or the cell timeout: let the grader clean up its containers
        # (it treats SIGTERM like Ctrl-C), then wait for it.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    line = out.strip().splitlines()[-1] if out.strip() else ""
    try:
        report = json.loads(line)
    except ValueError:
        report = {"error_fr": f"le correcteur s'est arrêté sans rapport (code {proc.returncode}).\n"
                              + (err.strip()[-2000:] if err else "")}
    return report


def rapport(lab: str, folder: Optional[Path] = None) -> dict:
    """The grader's report for ``lab`` on ``folder`` (default: the current directory), computed
    once per kernel and per folder contents."""
    folder = Path(folder or Path.cwd()).resolve()
    digest = report_key(lab, folder)
    key = (lab, str(folder), digest)
    if key not in _CACHE:
        ahead = Path(os.environ.get(CACHE_ENV, "") or "/nonexistent") / f"{digest}.json"
        if ahead.is_file():
            _CACHE[key] = json.loads(ahead.read_text(encoding="utf-8"))
        else:
            _CACHE[key] = _run_grader(lab, folder)
    return _CACHE[key]


def report_key(lab: str, folder: Path) -> str:
    """Name of a report graded ahead: the lab, the files' digest, the hidden checks' folder."""
    extra = hashlib.sha256(os.environ.get(HIDDEN_ENV, "").strip().encode()).hexdigest()[:12]
    return f"{lab[:2]}-{fingerprint(folder)[:40]}-{extra}"


def resultat(check_id: str, folder: Optional[Path] = None) -> tuple[bool, str]:
    """(passed, French message) for ``check_id``; a grade cell asserts it, so a failure's
    traceback shows the cell and the message, nothing of the grader's code. A student (no
    ``NBGRADER_EXECUTION``) also sees a line when the check passed."""
    lab = check_id[:2]
    report = rapport(lab, folder)
    if "checks" not in report:
        reason = report.get("error_fr") or report.get("error") or "erreur inconnue"
        return False, f"Correction impossible : {reason}"
    result = next((c for c in report["checks"] if c["id"] == check_id), None)
    if result is None:
        return False, (f"Vérification inconnue du correcteur : {check_id}. Mettez à jour le dépôt "
                       "du cours (git pull) et relancez.")
    head = f"{check_id} — {result['title']} ({_fmt(result['earned'])}/{_fmt(result['points'])} pt)"
    if result["status"] == "passed":
        if not os.environ.get(EXECUTION_ENV):
            print(f"✔ {head} : réussi.")
        return True, ""
    if result.get("skipped_here"):
        return False, f"{head} : non évalué sur cette machine.\n{result['message']}"
    state = {"failed": "échoué", "skipped": "non évalué", "error": "erreur"}.get(result["status"],
                                                                                  result["status"])
    return False, f"{head} : {state}.\n{result['message']}"


def verifier(check_id: str, folder: Optional[Path] = None) -> None:
    """Pass silently when ``check_id`` passed; raise AssertionError (French) otherwise."""
    passed, message = resultat(check_id, folder)
    if not passed:
        raise AssertionError(message)


# ---------------------------------------------------------------------------------------------
# Generation: the « Notation automatique » section of each lab notebook, from the registry
# ---------------------------------------------------------------------------------------------
def _meta(grade_id: str, *, grade: bool, points: Optional[float] = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": True, "schema_version": 3,
            "solution": False, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta, "deletable": False, "editable": False}


def section_cells(lab) -> list[dict]:
    """The generated cells for ``lab`` (a :class:`~autograder.core.Lab`): a heading, then one
    grade cell per check, in the registry's order."""
    total = _fmt(lab.max_score)
    heading = (
        f"{SECTION_TITLE}\n\n"
        f"Chaque cellule ci-dessous correspond à une vérification du correcteur ({len(lab.checks)} "
        f"vérifications, {total} points). La première exécutée construit et lance votre travail "
        "(comme `make check`), les suivantes lisent le même résultat ; si vous modifiez vos "
        "fichiers, relancez-les. Une vérification réussie affiche ✔, une vérification ratée "
        "lève une erreur qui dit ce qui était attendu, ce qui a été observé et quoi faire.\n\n"
        "Ces cellules sont verrouillées : l'enseignant les ré-exécute telles quelles pour noter."
    )
    cells = [{"cell_type": "markdown", "id": SECTION_ID, "metadata": _meta(SECTION_ID, grade=False),
              "source": _lines(heading)}]
    for check in lab.checks:
        source = (f"{CELL_MARK} : {check.id} — {check.title} ({_fmt(check.points)} pt)\n"
                  "from autograder.classroom.nbgrade import resultat\n"
                  f"reussi, message = resultat({check.id!r})\n"
                  "assert reussi, message")
        cells.append({"cell_type": "code", "execution_count": None, "id": check.id,
                      "metadata": _meta(check.id, grade=True, points=check.points),
                      "outputs": [], "source": _lines(source)})
    return cells


def answer_meta(grade_id: str) -> dict:
    """An nbgrader "autograded answer" cell: a solution cell, not graded, not locked."""
    return {"nbgrader": {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
                         "solution": True, "task": False}}


def answer_source(question) -> str:
    return f'{question.variable} = ""  # votre réponse'


_HOW = {"commande": "Écrivez la commande entre les guillemets : elle est lue, jamais exécutée.",
        "choix": "Écrivez la ou les lettres entre les guillemets, séparées par des virgules.",
        "valeur": "Écrivez la réponse entre les guillemets."}


def quiz_cells(lab) -> list[dict]:
    """The « Questions de cours » section of ``lab``: per question of :mod:`autograder.classroom.quiz`, a
    prompt, an answer cell, then its grade cell (in that order: at autograde the answer cell runs
    before the cell that grades it). Empty when the lab has no question."""
    from autograder.classroom.quiz import questions

    qs = questions(lab.id)
    if not qs:
        return []
    points = sum(q.points for q in qs)
    total = f"{_fmt(points)} point{'s' if points >= 2 else ''}"
    heading = (
        f"{QUIZ_TITLE}\n\n"
        f"{len(qs)} question{'s' if len(qs) > 1 else ''} sur les notions du TP ({total}, en plus des "
        f"{_fmt(lab.max_score)} points du correcteur). Pour chacune, écrivez votre réponse entre les "
        "guillemets de la cellule `reponse_… = \"\"`, exécutez-la, puis exécutez la cellule de "
        "correction qui la suit : elle affiche ✔, ou lève une erreur qui dit ce qui était attendu "
        "et où le relire. C'est le sens qui est noté : toutes les écritures correctes d'une commande "
        "sont acceptées (la casse ne compte que là où elle change le sens)."
    )
    cells = [{"cell_type": "markdown", "id": QUIZ_ID, "metadata": _meta(QUIZ_ID, grade=False),
              "source": _lines(heading)}]
    for n, q in enumerate(qs, 1):
        prompt = f"**Question {n}** ({_fmt(q.points)} pt) — {q.prompt}\n"
        if q.choices:
            prompt += "\n" + "\n".join(f"- **{letter}.** {text}" for letter, text in q.choices) + "\n"
        prompt += f"\n{_HOW[q.kind]}"
        grade = (f"{QUIZ_MARK} : {q.id} ({_fmt(q.points)} pt)\n"
                 "from autograder.classroom.quiz import corriger\n"
                 f"corriger({q.id!r}, {q.variable})")
        cells += [
            {"cell_type": "markdown", "id": q.id + PROMPT_SUFFIX,
             "metadata": _meta(q.id + PROMPT_SUFFIX, grade=False), "source": _lines(prompt)},
            {"cell_type": "code", "execution_count": None, "id": q.id + ANSWER_SUFFIX,
             "metadata": answer_meta(q.id + ANSWER_SUFFIX), "outputs": [],
             "source": _lines(answer_source(q))},
            {"cell_type": "code", "execution_count": None, "id": q.id,
             "metadata": _meta(q.id, grade=True, points=q.points), "outputs": [],
             "source": _lines(grade)},
        ]
    return cells


def generated_cells(lab) -> list[dict]:
    """Everything ``nbgrader-cells`` writes at the end of the lab's notebook, in order."""
    return quiz_cells(lab) + section_cells(lab)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def hidden_cells(checks) -> list[dict]:
    """Grade cells for the instructor's hidden checks: the body is an nbgrader hidden test, so the
    released notebook shows the cell and its points only."""
    cells = []
    for check in checks:
        source = (f"{CELL_MARK} : vérification de l'enseignant ({_fmt(check.points)} pt)\n"
                  "### BEGIN HIDDEN TESTS\n"
                  f"# {check.id} — {check.title}\n"
                  "from autograder.classroom.nbgrade import resultat\n"
                  f"reussi, message = resultat({check.id!r})\n"
                  "assert reussi, message\n"
                  "### END HIDDEN TESTS")
        cells.append({"cell_type": "code", "execution_count": None, "id": check.id,
                      "metadata": _meta(check.id, grade=True, points=check.points),
                      "outputs": [], "source": _lines(source)})
    return cells


def _is_generated(cell: dict) -> bool:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
    source = "".join(cell.get("source", ""))
    return grade_id in (SECTION_ID, QUIZ_ID) or bool(re.match(r"^\d{2}-", grade_id)) \
        or source.startswith((CELL_MARK, QUIZ_MARK))


def with_section(nb: dict, lab) -> dict:
    """``nb`` with its generated section replaced (or appended); other cells untouched."""
    first = next((i for i, c in enumerate(nb["cells"]) if _is_generated(c)), len(nb["cells"]))
    kept = nb["cells"][:first] + [c for c in nb["cells"][first:] if not _is_generated(c)]
    # The sections are always last: cells after them that are not generated stay before them.
    out = dict(nb)
    out["cells"] = kept + generated_cells(lab)
    if out.get("nbformat_minor", 0) < 5:  # cell ids need nbformat 4.5
        out["nbformat_minor"] = 5
    return out


def _dump(nb: dict) -> str:
    return json.dumps(nb, ensure_ascii=False, indent=1) + "\n"


def write_sections(labs_dir: Path, check_only: bool = False) -> list[str]:
    """Regenerate the section of every lab notebook; with ``check_only``, write nothing and
    return the notebooks that are out of date."""
    from autograder.registry import all_labs

    stale = []
    for lab in all_labs():
        path = labs_dir / lab.id / "enonce.ipynb"
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        # Normalise "source" fields that are lists (as Jupyter writes them) before comparing.
        new = _dump(with_section(nb, lab))
        if _normalised(text) != _normalised(new):
            stale.append(str(path))
            if not check_only:
                path.write_text(new, encoding="utf-8")
    return stale


def _normalised(text: str) -> str:
    nb = json.loads(text)
    for cell in nb["cells"]:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return json.dumps(nb, sort_keys=True, ensure_ascii=False)
