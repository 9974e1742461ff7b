"""Hidden checks: extra checks an instructor keeps outside the public repository.

``AUTOGRADER_HIDDEN_CHECKS`` (or ``python -m autograder check --hidden DIR``) names a folder of
Python modules. Each module says which lab it extends and registers checks on it, exactly as a lab
module of ``autograder/labs`` does::

    # /srv/cours-prive/lab01_caches.py
    LAB = "01"

    def register(lab):
        @lab.check("01-cache-pip", "Le cache pip n'est pas dans l'image", 1, requires=["01-build"])
        def _(g):
            ...

They run at grading time only: nbgrader's grade cells (``autograder.classroom.nbgrade``) pass the folder to
the grader when the variable is set, and ``make release`` (run with it) adds one grade cell per
hidden check to the released notebooks, its body between ``### BEGIN/END HIDDEN TESTS`` so that
students see the cell and its points but not what it checks. ``make check`` never loads them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from pathlib import Path
from typing import Optional

from autograder.core import GraderUnavailable, Lab

ENV = "AUTOGRADER_HIDDEN_CHECKS"


def hidden_dir() -> Optional[Path]:
    value = os.environ.get(ENV, "").strip()
    return Path(value) if value else None


def _modules(folder: Path):
    if not folder.is_dir():
        raise GraderUnavailable(f"Dossier de vérifications cachées introuvable : {folder}",
                                f"Hidden checks folder not found: {folder}")
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = f"autograder_hidden_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        yield module


def extended(lab: Lab, folder: Optional[Path]) -> Lab:
    """A copy of ``lab`` with the hidden checks of ``folder`` for it appended (``lab`` itself,
    shared by the registry, is never modified)."""
    if folder is None:
        return lab
    copy = dataclasses.replace(lab, checks=list(lab.checks))
    for module in _modules(Path(folder)):
        target = str(getattr(module, "LAB", ""))
        if target and (target == lab.id or target.zfill(2) == lab.number):
            module.register(copy)
    return copy


def hidden_checks(lab: Lab, folder: Optional[Path]) -> list:
    """The checks ``folder`` adds to ``lab`` (none without a folder)."""
    public = {c.id for c in lab.checks}
    return [c for c in extended(lab, folder).checks if c.id not in public]
