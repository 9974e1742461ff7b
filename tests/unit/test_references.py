"""Every place a student is sent to exists: quiz corrections, grader and doctor hints, notebook
cross-references and links resolve to an existing notebook and one of its markdown headings.

The forms, as the course writes them (French):

* quiz corrections (the ``QUESTIONS`` at the end of each ``autograder/labs/labNN_*.py``, the « Voir … »
  part of each explanation), in the question's lab notebook: « Titre » names a heading (its number
  « 11. » and a trailing parenthesis « (TODO 2, 3) » may be left out); « la section 11 » /
  « la partie 6 » a numbered heading; « la section 11, « Titre » » both, the same heading;
  « l'étape 5 de « Titre » » (also « le point », « la règle ») an item numbered 5 in that heading's part;
* « chapitre 1/02, « Titre » » anywhere (grader, doctor, notebooks): ``chapters/1-*/02-*.ipynb``
  and its heading;
* « voir la partie 6 » / « la section 6 » in a notebook: a numbered heading of that notebook;
* « TODO 2, 3 et 9 » in a lab's instructions: those numbered TODOs in the lab's starter files;
* relative markdown links in notebooks and READMEs (``[TP 12](../../labs/12-…/enonce.ipynb)``,
  ``#ancre``): the file, and the heading for an anchor (JupyterLab's anchors: spaces → « - »).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from autograder.classroom.quiz import QUESTIONS
from cases import ROOT

Q = r"«[\s\u00a0]*(.+?)[\s\u00a0]*»"
NUMBERED = re.compile(r"\b(?:la |les )?(?:section|partie)s? (\d+)(?:,\s*" + Q + ")?")
ITEM = re.compile(r"\b(?:l'étape|le point|la règle) (\d+) de " + Q)
CHAPTER = re.compile(r"\bchapitre (\d)/(\d\d)(?:,\s*" + Q + ")?")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in nb["cells"] if c["cell_type"] == "markdown"]


def _outline(texts: list[str]) -> list[tuple[str, list[str]]]:
    """(heading, lines of its part, sub-parts included) for every markdown heading outside fenced
    code."""
    out: list[tuple[str, int, list[str]]] = []
    for text in texts:
        fenced = False
        for line in text.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            m = None if fenced else re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line)
            below = len(m.group(1)) if m else 7
            for _, level, lines in reversed(out):  # the open parts: the last heading and its parents
                if level < below:
                    lines.append(line)
                    below = level
            if m:
                out.append((m.group(2), len(m.group(1)), []))
    return [(heading, lines) for heading, _, lines in out]


def _names(heading: str) -> set[str]:
    """The ways a reference may name ``heading``: as written, without its number, without a
    trailing parenthesis."""
    bare = re.sub(r"^\d+\.\s+", "", heading)
    return {heading, bare, re.sub(r"\s+\([^()]*\)$", "", bare)}


def _number(heading: str) -> str | None:
    m = re.match(r"(\d+)\.\s", heading)
    return m.group(1) if m else None


def _outline_of(path: Path) -> list[tuple[str, list[str]]]:
    if path.suffix == ".ipynb":
        return _outline(_cells(path))
    return _outline([path.read_text(encoding="utf-8")])


def _check_named(outline, name: str) -> str | None:
    if not any(name in _names(h) for h, _ in outline):
        return f"no heading « {name} »"
    return None


def resolve(text: str, notebook: Path, numbered: bool = True) -> list[str]:
    """Problems with the references of ``text``, read against ``notebook`` (empty: all resolve)."""
    problems = []
    outline = _outline_of(notebook)
    used: list[tuple[int, int]] = []
    for m in ITEM.finditer(text):
        used.append(m.span(2))
        part = next((lines for h, lines in outline if m.group(2) in _names(h)), None)
        if part is None:
            problems.append(f"no heading « {m.group(2)} »")
        elif not any(re.match(rf"\s*(?:#+\s+|[-*]\s+)?(?:\*\*)?{m.group(1)}[.)]\s", line) for line in part):
            problems.append(f"« {m.group(2)} » has no item {m.group(1)}")
    if numbered:
        for m in NUMBERED.finditer(text):
            heading = next((h for h, _ in outline if _number(h) == m.group(1)), None)
            if heading is None:
                problems.append(f"no heading numbered {m.group(1)}")
            elif m.group(2):
                used.append(m.span(2))
                if m.group(2) not in _names(heading):
                    problems.append(f"section {m.group(1)} is « {heading} », not « {m.group(2)} »")
    for m in CHAPTER.finditer(text):
        if m.group(3):
            used.append(m.span(3))
    for m in re.finditer(Q, text):
        if not any(a <= m.start(1) < b for a, b in used):
            problems += filter(None, [_check_named(outline, m.group(1))])
    return problems


def resolve_chapters(text: str) -> list[str]:
    problems = []
    for m in CHAPTER.finditer(text):
        found = sorted(ROOT.glob(f"chapters/{m.group(1)}-*/{m.group(2)}-*.ipynb"))
        if not found:
            problems.append(f"no chapter notebook {m.group(1)}/{m.group(2)}")
        elif m.group(3):
            problems += filter(None, [_check_named(_outline_of(found[0]), m.group(3))])
    return problems


def resolve_links(text: str, source: Path) -> list[str]:
    problems = []
    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r"[a-z]+:", target) or target.startswith("<"):
            continue  # http(s), mailto: not ours to check here
        path, _, anchor = target.partition("#")
        file = (source.parent / unquote(path)).resolve() if path else source
        if not file.exists():
            problems.append(f"link to a missing file: {target}")
        elif anchor and file.suffix in (".ipynb", ".md"):
            anchors = {h.replace(" ", "-") for h, _ in _outline_of(file)}
            if unquote(anchor) not in anchors:
                problems.append(f"link to a missing heading: {target}")
    return problems


def _lab_notebook(lab: str) -> Path:
    [path] = ROOT.glob(f"labs/{lab}-*/enonce.ipynb")
    return path


# ---------------------------------------------------------------------------------------------
# The course's references
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.id)
def test_every_quiz_correction_points_to_a_heading_of_its_lab(question):
    where = question.explanation.partition("Voir ")
    assert where[1], f"{question.id}: the correction says where to read again (« Voir … »)"
    problems = resolve(where[2], _lab_notebook(question.lab)) + resolve_chapters(where[2])
    assert not problems, f"{question.id}: {problems} in « Voir {where[2]} »"


def _french_strings(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


GRADER_FILES = sorted((ROOT / "autograder").rglob("*.py"))


@pytest.mark.parametrize("path", GRADER_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_grader_and_doctor_hints_name_existing_chapters_and_headings(path):
    problems = [f"{path.relative_to(ROOT)}:{line}: {p}" for line, text in _french_strings(path)
                for p in resolve_chapters(text)]
    assert not problems, problems


STUDENT_NOTEBOOKS = sorted(ROOT.glob("labs/*/enonce.ipynb")) + sorted(
    p for p in (ROOT / "chapters").rglob("*.ipynb") if not {"_travail", ".ipynb_checkpoints"} & set(p.parts))
READMES = sorted(ROOT.glob("labs/*/README.md")) + sorted(
    p for p in (ROOT / "chapters").rglob("README.md") if "_travail" not in p.parts)


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS + READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_cross_references_and_links_resolve(path):
    texts = _cells(path) if path.suffix == ".ipynb" else [path.read_text(encoding="utf-8")]
    problems = []
    for text in texts:
        prose = re.sub(r"```.*?```", " ", text, flags=re.S)
        # « voir la partie 6 » inside the notebook; quoted names are titles of other things here.
        own = " ".join(m.group(0) for m in re.finditer(r"\b[Vv]oir (?:aussi )?(?:la |les )?(?:section|partie)s? \d+[^.;)]*",
                                                         prose))
        problems += resolve(re.sub(Q, "", own), path) + resolve_chapters(prose) + resolve_links(prose, path)
    assert not problems, problems


@pytest.mark.parametrize("path", sorted(ROOT.glob("labs/*/enonce.ipynb")), ids=lambda p: p.parent.name)
def test_todo_numbers_named_by_the_instructions_exist_in_the_starter_files(path):
    named = set()
    for text in _cells(path):
        for m in re.finditer(r"\bTODOs? ((?:\d+(?:, | et | à |-))*\d+)", text):
            numbers = [int(n) for n in re.findall(r"\d+", m.group(1))]
            named.update(range(numbers[0], numbers[-1] + 1) if re.search(r" à |-", m.group(1)) else numbers)
    present = set()
    for f in path.parent.rglob("*"):
        if f.is_file() and f.suffix != ".ipynb" and ".ipynb_checkpoints" not in f.parts:
            present |= {int(n) for n in re.findall(r"\bTODO\s*(\d+)", f.read_text(encoding="utf-8", errors="replace"))}
    assert named <= present, f"TODO {sorted(named - present)} named in the instructions, absent from the starter"


# ---------------------------------------------------------------------------------------------
# The resolver itself: it catches what is missing and accepts what exists
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def notebook(tmp_path):
    cells = ["# TP 99 — Essai\n\n## 1. Trois façons\n\nTexte.\n",
             "## Ce que vous devez écrire\n\n1. un\n2. deux\n\n```bash\n# pas un titre\n```\n",
             "## 3. Secrets Compose (TODO 2, 3)\n",
             "### Observez le cache\n"]
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": c} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "enonce.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.mark.parametrize("text", [
    "Voir « Observez le cache ».",
    "Voir la section 1, « Trois façons ».",
    "Voir la section 3, « Secrets Compose ».",
    "Voir les sections 1 et 3.",
    "Voir l'étape 2 de « Ce que vous devez écrire ».",
    "Voir « 1. Trois façons ».",
])
def test_resolver_accepts_existing_places(notebook, text):
    assert resolve(text, notebook) == []


@pytest.mark.parametrize("text, problem", [
    ("Voir « Observez la cache ».", "no heading"),
    ("Voir « pas un titre ».", "no heading"),                       # a comment in a code block
    ("Voir la section 2.", "no heading numbered 2"),
    ("Voir la section 3, « Trois façons ».", "section 3 is"),
    ("Voir l'étape 5 de « Ce que vous devez écrire ».", "has no item 5"),
    ("Voir l'étape 1 de « Ce qu'il faut écrire ».", "no heading"),
    ("Voir le point 2 de « Secrets Compose ».", "has no item 2"),     # item 2 is another part's
])
def test_resolver_catches_missing_places(notebook, text, problem):
    problems = resolve(text, notebook)
    assert problems and problem in problems[0], problems


def test_chapter_references_and_links_are_resolved(tmp_path, notebook):
    assert resolve_chapters("chapitre 1/02, « Faire les TP avec Podman »") == []
    assert "no heading" in resolve_chapters("chapitre 1/02, « Faire les TD avec Podman »")[0]
    assert "no chapter notebook" in resolve_chapters("voir le chapitre 1/99")[0]
    assert resolve_links("[ici](enonce.ipynb#1.-Trois-façons)", notebook) == []
    assert "missing heading" in resolve_links("[ici](enonce.ipynb#2.-Deux)", notebook)[0]
    assert "missing file" in resolve_links("[là](../autre/enonce.ipynb)", notebook)[0]
    assert resolve_links("[doc](https://docs.docker.com/x.ipynb)", notebook) == []
