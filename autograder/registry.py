"""Lab discovery: every module in ``autograder/labs`` defines one ``LAB`` and its quiz questions
(``QUESTIONS``, read by :mod:`autograder.classroom.quiz`).

The lists of labs and of questions are derived from the package, never maintained by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from autograder import labs as _labs_pkg
from autograder.core import GraderUnavailable, Lab
from autograder.readers.answers import Question

REPO_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=None)
def _lab_modules() -> dict[str, ModuleType]:
    """The modules of ``autograder/labs``, by the id of the lab each defines."""
    found = {}
    for info in pkgutil.iter_modules(_labs_pkg.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_labs_pkg.__name__}.{info.name}")
        lab = getattr(module, "LAB", None)
        if not isinstance(lab, Lab):
            raise TypeError(f"autograder.labs.{info.name} defines no LAB")
        if lab.id in found:
            raise ValueError(f"two lab modules define {lab.id}")
        found[lab.id] = module
    return found


@lru_cache(maxsize=None)
def all_labs() -> tuple[Lab, ...]:
    found = sorted((module.LAB for module in _lab_modules().values()), key=lambda lab: lab.id)
    ids = [lab.id for lab in found]
    if len(set(l.number for l in found)) != len(found):
        raise ValueError(f"two labs share a number: {ids}")
    check_ids = [c.id for lab in found for c in lab.checks]
    if len(set(check_ids)) != len(check_ids):
        raise ValueError("check ids must be unique across labs")
    return tuple(found)


@lru_cache(maxsize=None)
def all_questions() -> tuple[Question, ...]:
    """Every lab's quiz questions (the ``QUESTIONS`` of its module), in the labs' order."""
    found = []
    for lab in all_labs():
        for q in getattr(_lab_modules()[lab.id], "QUESTIONS", ()):
            if not isinstance(q, Question) or not q.id.startswith(f"{lab.number}-q-"):
                raise ValueError(f"{lab.id}: {q!r} is not a question of this lab (id {lab.number}-q-…)")
            found.append(q)
    ids = [q.id for q in found] + [c.id for lab in all_labs() for c in lab.checks]
    if len(set(ids)) != len(ids):
        raise ValueError("question ids must be unique and differ from every check id")
    if len({q.variable for q in found}) != len(found):
        raise ValueError("each question must have its own answer variable")
    return tuple(found)


def get_lab(key: str) -> Lab:
    """Find a lab by number (``1``, ``01``) or full id (``01-images-conteneurs``)."""
    key = key.strip()
    m = re.match(r"^(\d{1,2})(?:-.*)?$", key)
    for lab in all_labs():
        if key == lab.id or (m and int(m.group(1)) == int(lab.number) and
                             (key == m.group(1) or key == lab.id)):
            return lab
    known = ", ".join(lab.id for lab in all_labs())
    raise GraderUnavailable(
        f"TP inconnu : « {key} ». TP disponibles : {known}.",
        f"Unknown lab '{key}'. Known labs: {known}.",
    )


def lab_for_folder(folder: Path) -> Lab:
    """The lab whose id is the folder's name (``.../01-images-conteneurs``)."""
    name = folder.resolve().name
    for lab in all_labs():
        if name == lab.id:
            return lab
    raise GraderUnavailable(
        f"Impossible de savoir quel TP noter dans « {folder} » : le dossier doit s'appeler "
        f"comme le TP (par exemple 01-images-conteneurs) ou utilisez --lab NN.",
        f"Cannot tell which lab '{folder}' is: name the folder after the lab "
        f"(e.g. 01-images-conteneurs) or pass --lab NN.",
    )


def lab_dirs(kind: str) -> dict[str, Path]:
    """``labs/NN-slug`` or ``solutions/NN-slug`` folders of the repository, by lab id."""
    base = REPO_ROOT / kind
    return {p.name: p for p in sorted(base.iterdir()) if p.is_dir() and re.match(r"^\d{2}-", p.name)}
