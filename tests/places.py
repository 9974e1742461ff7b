"""Every place a lab lives, and how to take one lab out of a copy of the repository.

A lab ``NN-slug`` lives in folders of its own (``labs/``, ``solutions/``, ``tests/mutants/``,
``tests/alternatives/``, ``tests/paths/``, ``tests/sandbox/``), files of its own (its grader module
``autograder/labs/labNN_slug.py``, an instructor's hidden checks ``tests/nbgrader/hidden/labNN_*.py``,
a unit test file ``tests/unit/test_labNN_*.py``) and sections of shared files (its row of the README's
lab table and of other Markdown tables such as docs/instructors.md's timings, its questions'
reference answers in ``tests/nbgrader/quiz_answers.toml``, its ``# -- lab NN`` section of a unit
test file shared with another lab, an entry keyed by it in a test's table, the links other pages
make to it). :func:`lab_places` names them; :meth:`Place.remove` takes one out (a section is edited
out, and the edited file must still parse); :func:`orphans` finds places of labs that do not exist.
Prose that mentions a lab without a link (« TP 05 » in a chapter) is not a place: removing a lab
leaves it for an author to rewrite.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent

# Folders named after the lab (required: every lab has one; optional: only some labs have one).
FOLDERS = {
    "labs": (True, "student material: instructions notebook and starter files"),
    "solutions": (True, "the reference solution"),
    "tests/mutants": (True, "mutants the grader must catch"),
    "tests/alternatives": (True, "valid alternatives the grader must accept"),
    "tests/paths": (True, "a student's path from the starter to the solution"),
    "tests/sandbox": (False, "hostile and unusual submissions built on the lab"),
}
QUIZ_ANSWERS = "tests/nbgrader/quiz_answers.toml"
SKIP_DIRS = {"build", "node_modules", "__pycache__", "_travail", ".ipynb_checkpoints", "dist"}
LINK = r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]*{target}[^)\s]*)\)"


@dataclass(frozen=True)
class Place:
    lab: str
    path: str                 # relative to the repository, POSIX
    kind: str                 # "folder", "file" or "section"
    what: str                 # one line: what the lab has there
    required: bool = False
    cut: Optional[Callable[[str], str]] = None  # section: the file's text without the lab's part

    def exists(self, root: Path = ROOT) -> bool:
        target = root / self.path
        if self.kind == "folder":
            return target.is_dir()
        if self.kind == "file":
            return target.is_file()
        return target.is_file() and self.cut(target.read_text(encoding="utf-8")) != target.read_text(encoding="utf-8")

    def remove(self, root: Path) -> None:
        target = root / self.path
        if self.kind == "folder":
            shutil.rmtree(target)
        elif self.kind == "file":
            target.unlink()
        else:
            text = target.read_text(encoding="utf-8")
            target.write_text(self.cut(text), encoding="utf-8")
            _still_parses(target)

    def __str__(self) -> str:
        return f"{self.path} ({self.kind}: {self.what})"


def module_name(lab_id: str) -> str:
    """``05-optimisation-images`` → ``lab05_optimisation_images``."""
    number, _, slug = lab_id.partition("-")
    return f"lab{number}_{slug.replace('-', '_')}"


def lab_places(lab_id: str, root: Path = ROOT) -> list[Place]:
    """Every place of ``lab_id`` in ``root``: the required ones whether they exist or not (a test
    says which are missing), the optional ones where they exist."""
    number = lab_id[:2]
    module = module_name(lab_id)
    places = [Place(lab_id, f"{base}/{lab_id}", "folder", what, required)
              for base, (required, what) in FOLDERS.items()]
    places.append(Place(lab_id, f"autograder/labs/{module}.py", "file",
                        "the grader module: checks, constants, quiz questions", True))
    row = Place(lab_id, "README.md", "section", "its row of the lab table", True,
                lambda text: _cut_lines(text, _row(lab_id)))
    places.append(row)
    places.append(Place(lab_id, QUIZ_ANSWERS, "section", "reference answers of its quiz questions", True,
                        lambda text: _cut_toml_tables(text, f"{number}-q-")))
    own = [p.path for p in places if p.kind == "folder"]  # not searched for sections
    for rel in _texts(root, ".", (".md",), skip=own):
        if rel != row.path and re.search(_row(lab_id), (root / rel).read_text(encoding="utf-8"), re.M):
            places.append(Place(lab_id, rel, "section", "its row of a table (measures, timings)",
                                cut=lambda text: _cut_lines(text, _row(lab_id))))
    places += [Place(lab_id, rel, "file", "an instructor's hidden checks (tests)")
               for rel in _files(root, "tests/nbgrader/hidden", rf"lab{number}_.*\.py")]
    for rel in _files(root, "tests/unit", r"test_lab\d\d(?:_\d\d)*_.*\.py"):
        sections = _SECTION.findall((root / rel).read_text(encoding="utf-8"))
        if _numbers(rel) == [number] and set(sections) <= {number}:
            places.append(Place(lab_id, rel, "file", "its unit tests (no Docker)"))
        elif number in sections:
            places.append(Place(lab_id, rel, "section", f"its `# -- lab {number}` section and its module's import",
                                cut=lambda text, n=number, m=module: _cut_test_section(text, n, m)))
    keys = (lab_id, f"autograder/labs/{module}.py")
    for rel in _texts(root, "tests", (".py",), skip=own):
        text = (root / rel).read_text(encoding="utf-8")
        if any(f'"{k}":' in text for k in keys):
            place = Place(lab_id, rel, "section", "an entry keyed by the lab in a test's table",
                          cut=lambda t, keys=keys: _cut_entries(t, keys))
            if place.exists(root):
                places.append(place)
    for rel in _texts(root, ".", (".md", ".ipynb"), skip=own):
        text = (root / rel).read_text(encoding="utf-8")
        text = row.cut(text) if rel == row.path else text
        if re.search(LINK.format(target=re.escape(f"labs/{lab_id}")), text):
            places.append(Place(lab_id, rel, "section", "links to the lab (removal keeps their text)",
                                cut=lambda t: _unlink(t, lab_id)))
    return places


def remove_lab(lab_id: str, root: Path) -> list[Place]:
    """Take ``lab_id`` out of the repository copy ``root`` (never the repository itself): every
    place that exists, in :func:`lab_places`' order (a section is cut from the file as it is then)."""
    if root.resolve() == ROOT:
        raise ValueError("remove_lab works on a copy of the repository, never on the repository")
    removed = []
    for place in lab_places(lab_id, root):
        if place.exists(root):
            place.remove(root)
            removed.append(place)
    return removed


def orphans(lab_ids: list[str], root: Path = ROOT) -> list[str]:
    """Places in ``root`` that name a lab not in ``lab_ids`` (a folder, a file, a section)."""
    numbers = {i[:2] for i in lab_ids}
    found = []
    for base in FOLDERS:
        folder = root / base
        for p in sorted(folder.iterdir()) if folder.is_dir() else []:
            if p.is_dir() and re.match(r"^\d\d-", p.name) and p.name not in lab_ids:
                found.append(f"{base}/{p.name}")
    for rel in _files(root, "autograder/labs", r"lab\d\d_.*\.py"):
        if Path(rel).stem not in {module_name(i) for i in lab_ids}:
            found.append(rel)
    for rel in _files(root, "tests/nbgrader/hidden", r"lab\d\d_.*\.py"):
        if Path(rel).name[3:5] not in numbers:
            found.append(rel)
    for rel in _files(root, "tests/unit", r"test_lab\d\d(?:_\d\d)*_.*\.py"):
        # a file shared by labs names them by its sections, a lab's own file by its name
        named = set(_SECTION.findall((root / rel).read_text(encoding="utf-8"))) or set(_numbers(rel))
        found += [f"{rel}: lab {n}" for n in sorted(named - numbers)]
    for rel in _texts(root, ".", (".md",), skip=[f"{base}/{i}" for base in FOLDERS for i in lab_ids]):
        rows = re.findall(r"^\| *(?:\[(\d\d-[a-z0-9-]+)\]\([^)]*labs/[^)]*\)|`?(\d\d-[a-z0-9-]+)`?) *\|",
                          (root / rel).read_text(encoding="utf-8"), re.M)
        found += [f"{rel}: row {i}" for pair in rows for i in pair if i and i not in lab_ids]
    answers = tomllib.loads((root / QUIZ_ANSWERS).read_text(encoding="utf-8"))
    found += [f"{QUIZ_ANSWERS}: [{q!r}]" for q in answers if q[:2] not in numbers]
    return found


_SECTION = re.compile(r"^# -- lab (\d\d)\b", re.M)


def _numbers(rel: str) -> list[str]:
    """The lab numbers a unit test file's name gives: ``test_lab09_12_readings`` → 09, 12."""
    return re.findall(r"(?<=_)\d\d|(?<=lab)\d\d", Path(rel).stem)


# -- helpers ---------------------------------------------------------------------------------------
def _files(root: Path, base: str, pattern: str) -> list[str]:
    folder = root / base
    return sorted(f"{base}/{p.name}" for p in (folder.iterdir() if folder.is_dir() else ())
                  if p.is_file() and re.fullmatch(pattern, p.name))


def _texts(root: Path, base: str, suffixes: tuple[str, ...], skip: list[str]) -> list[str]:
    """Files under ``root/base`` with one of ``suffixes``, outside hidden and build folders and ``skip``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root / base):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS
                             and (f"{rel_dir}/{d}" if rel_dir != "." else d) not in skip)
        for name in sorted(filenames):
            if name.endswith(suffixes):
                out.append(f"{rel_dir}/{name}" if rel_dir != "." else name)
    return out


def _row(lab_id: str) -> str:
    """A Markdown table row whose first cell is the lab (``| 05-slug | …`` or ``| [05-slug](…) | …``)."""
    return rf"^\| *(?:\[{re.escape(lab_id)}\]\([^)]*\)|`?{re.escape(lab_id)}`?) *\|.*\n"


def _cut_lines(text: str, pattern: str) -> str:
    return re.sub(pattern, "", text, flags=re.M)


def _cut_toml_tables(text: str, prefix: str) -> str:
    """The TOML text without its top-level tables ``["<prefix>…"]`` (each up to the next table)."""
    blocks = re.split(r"(?m)^(?=\[)", text)
    kept = [b for b in blocks if not b.startswith(f'["{prefix}')]
    return "".join(kept)


def _cut_test_section(text: str, number: str, module: str) -> str:
    """A test file shared by labs without lab ``number``'s ``# -- lab NN`` section (up to the next
    ``# -- `` header) and without the import of its module."""
    text = re.sub(rf"(?ms)^# -- lab {number}\b.*?(?=^# -- |\Z)", "", text)
    return re.sub(rf"(?m)^from autograder\.labs import {module}\b.*\n", "", text)


def _cut_entries(text: str, keys: tuple[str, ...]) -> str:
    """The Python text without the one-line entries ``"<key>": …,`` of a table."""
    alternatives = "|".join(re.escape(k) for k in keys)
    return re.sub(rf'(?m)^[ \t]+"(?:{alternatives})"\s*:.*,[ \t]*\n', "", text)


def _unlink(text: str, lab_id: str) -> str:
    """Markdown links to the lab replaced by their text (``[TP 05](../labs/05-…/)`` → ``TP 05``)."""
    return re.sub(LINK.format(target=re.escape(f"labs/{lab_id}")), r"\1", text)


def _still_parses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        ast.parse(text, filename=str(path))
    elif path.suffix == ".toml":
        tomllib.loads(text)
    elif path.suffix == ".ipynb":
        json.loads(text)
