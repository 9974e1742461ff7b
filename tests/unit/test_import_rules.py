"""The grader's import rules: a room imports only its own room and lower ones.

Every module of ``autograder/`` is read with :mod:`ast` (nothing is imported): top-level and
function-level imports, ``if TYPE_CHECKING:`` blocks, relative and absolute forms, and
``importlib.import_module("autograder.…")`` with a literal name. A module that lies in no room
fails too: a new module must be placed (add it to a room's paths below, or create the room here,
with its reason). The table is the written form of the rules; the README's room table (« The
grader's package, room by room ») lists the same rooms in the same order.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Room:
    name: str
    rank: int                 # a room may import its own room and rooms of a lower rank
    paths: tuple[str, ...]    # a module "a/b.py" or a folder "a/b/" (everything under it)
    reason: str


# The rule table, lowest room first. Rooms of equal rank do not import each other.
ROOMS = (
    Room("core", 0, ("autograder/__init__.py", "autograder/core.py"),
         "the foundation (Check, Lab, Fail…) that every room uses: it imports nothing of the package"),
    Room("readers", 1, ("autograder/readers/",),
         "static readers of a submission's files and answers: pure parsing, no Docker"),
    Room("engine", 2, ("autograder/engine/",),
         "the only code that talks to Docker (sandbox, policy, builds, Compose, API proxy, runner)"),
    Room("probes", 3, ("autograder/probes/",),
         "behavioural questions built on the engine, shared by the labs' checks"),
    Room("labs", 4, ("autograder/labs/",),
         "one module per lab: checks made of probes and readers; no lab knows the others' index"),
    Room("registry", 5, ("autograder/registry.py",),
         "the labs' index, derived from autograder/labs: the first thing that sees every lab"),
    Room("report", 6, ("autograder/report/",),
         "scorecard, JSON, JUnit and progress lines: renders gradings, grades nothing"),
    Room("classroom", 7, ("autograder/classroom/",),
         "nbgrader, quiz, analytics, hidden checks, exports, hand-ins, CI: the course around the grader"),
    Room("tools", 8, ("autograder/tools/",),
         "machine tools (doctor, bundle, bench): use the whole grader, used by nothing but the CLI"),
    Room("notebook", 8, ("autograder/notebook.py",),
         "the chapters' helper, imported by notebooks only"),
    Room("cli", 9, ("autograder/cli.py", "autograder/__main__.py"),
         "the command line: the top, it may import every room"),
)


@dataclass(frozen=True)
class Violation:
    where: str        # file:line
    module: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.module} → {self.imported} ({self.why})"


def module_name(rel: Path) -> str:
    """``autograder/engine/sandbox.py`` → ``autograder.engine.sandbox``; a package's
    ``__init__.py`` is the package itself."""
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(rel: str, rooms=ROOMS) -> Room | None:
    for room in rooms:
        for path in room.paths:
            if rel == path or (path.endswith("/") and rel.startswith(path)):
                return room
    return None


def imported_names(tree: ast.AST, module: str, is_package: bool):
    """``(line, absolute module name)`` of every import in ``tree``, at any depth: ``from X import
    y`` yields ``X.y`` (resolved against the package's files by the caller) and ``X``."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target, tuple(a.name for a in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value, ()


def check_package(root: Path, package: str = "autograder", rooms=ROOMS) -> tuple[list[Violation], list[str]]:
    """The import-rule violations of the package ``root/package`` and its modules in no room."""
    files = sorted((root / package).rglob("*.py"))
    modules = {module_name(p.relative_to(root)): str(p.relative_to(root).as_posix()) for p in files}
    violations, unplaced = [], []

    def target_file(name: str, names: tuple[str, ...]) -> list[str]:
        """The files an import of ``name`` (``from name import names``) loads from the package."""
        found = []
        for sub in names:
            if f"{name}.{sub}" in modules:
                found.append(modules[f"{name}.{sub}"])
        if len(found) < len(names) or not names:
            # ``import a.b.c`` or ``from a.b import function``: the deepest module that exists
            parts = name.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts:
                found.append(modules[".".join(parts)])
        return found

    for path in files:
        rel = path.relative_to(root).as_posix()
        room = room_of(rel, rooms)
        if room is None:
            unplaced.append(rel)
            continue
        module = module_name(path.relative_to(root))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for line, name, names in imported_names(tree, module, path.name == "__init__.py"):
            if name != package and not name.startswith(package + "."):
                continue
            for target in target_file(name, names):
                other = room_of(target, rooms)
                if other is None or other == room:
                    continue  # an unplaced target is reported as such
                if other.rank >= room.rank:
                    imported = module_name(Path(target))
                    why = (f"{room.name} (rank {room.rank}) may not import {other.name} (rank {other.rank})")
                    violations.append(Violation(f"{rel}:{line}", module, imported, why))
    return violations, unplaced


# -- the rules on the grader itself ---------------------------------------------------------------
def test_every_module_of_the_package_lies_in_a_room():
    _, unplaced = check_package(ROOT)
    assert not unplaced, ("modules in no room (place them in ROOMS of tests/unit/test_import_rules.py): "
                          + ", ".join(unplaced))


def test_no_room_imports_a_higher_one():
    violations, _ = check_package(ROOT)
    assert not violations, "imports against the rooms' order:\n" + "\n".join(map(str, violations))


def test_the_rule_table_is_well_formed():
    names = [r.name for r in ROOMS]
    assert len(set(names)) == len(names)
    assert [r.rank for r in ROOMS] == sorted(r.rank for r in ROOMS)
    for room in ROOMS:
        assert room.reason and "\n" not in room.reason
        for path in room.paths:
            assert (ROOT / path).exists(), f"room {room.name}: {path} does not exist"


def test_the_readme_lists_the_rooms_in_the_table_s_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.partition("### The grader's package, room by room")[2]
    table = re.search(r"(?m)^\|.*\n(?:\|.*\n)*", after).group(0)  # the first table under the heading
    cells = re.findall(r"^\| `([a-z_]+(?:\.py|/))` \|", table, re.M)
    listed = [room_of(f"autograder/{cell}" + ("x.py" if cell.endswith("/") else "")) for cell in cells]
    assert [r.name if r else cell for r, cell in zip(listed, cells)] == [r.name for r in ROOMS]


# -- the checker itself, on a synthetic package ---------------------------------------------------
SYNTHETIC = (
    Room("base", 0, ("pkg/__init__.py", "pkg/base.py"), "foundation"),
    Room("low", 1, ("pkg/low/",), "low"),
    Room("high", 2, ("pkg/high/",), "high"),
    Room("left", 3, ("pkg/left.py",), "a sibling"),
    Room("right", 3, ("pkg/right.py",), "a sibling"),
)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_checker_reports_each_form_of_upward_import_with_file_and_line(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/base.py": "import os\n",
        "pkg/low/__init__.py": "from pkg.base import thing\n",                       # fine: lower
        "pkg/low/a.py": ("from __future__ import annotations\n"
                         "from typing import TYPE_CHECKING\n"
                         "from . import b\n"                                          # fine: own room
                         "if TYPE_CHECKING:\n"
                         "    from pkg.high.h import H\n"                             # 5: typing only, still wrong
                         "def f():\n"
                         "    from ..high import h\n"                                 # 7: relative, in a function
                         "    import pkg.high.h\n"                                    # 8: absolute, dotted
                         "    import importlib\n"
                         "    return importlib.import_module('pkg.high.h')\n"),       # 10: by name
        "pkg/low/b.py": "from pkg import high\n",                                     # 1: a package by name
        "pkg/high/__init__.py": "",
        "pkg/high/h.py": "from pkg.low.a import f\nfrom pkg.base import *\n",          # fine
        "pkg/left.py": "from pkg import right\n",                                     # 1: a sibling room
        "pkg/right.py": "import pkg.high.h\n",                                        # fine
    })
    violations, unplaced = check_package(tmp_path, "pkg", SYNTHETIC)
    assert unplaced == []
    found = sorted((v.where, v.module, v.imported) for v in violations)
    assert found == [
        ("pkg/left.py:1", "pkg.left", "pkg.right"),
        ("pkg/low/a.py:10", "pkg.low.a", "pkg.high.h"),
        ("pkg/low/a.py:5", "pkg.low.a", "pkg.high.h"),
        ("pkg/low/a.py:7", "pkg.low.a", "pkg.high.h"),
        ("pkg/low/a.py:8", "pkg.low.a", "pkg.high.h"),
        ("pkg/low/b.py:1", "pkg.low.b", "pkg.high"),
    ]
    shown = str(next(v for v in violations if v.where == "pkg/low/a.py:7"))
    assert shown == "pkg/low/a.py:7: pkg.low.a → pkg.high.h (low (rank 1) may not import high (rank 2))"


def test_checker_reports_a_module_in_no_room(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/base.py": "", "pkg/stray.py": "import pkg.base\n",
                      "pkg/attic/old.py": ""})
    violations, unplaced = check_package(tmp_path, "pkg", SYNTHETIC)
    assert violations == [] and unplaced == ["pkg/attic/old.py", "pkg/stray.py"]


@pytest.mark.parametrize("source", ["import os\nimport json\n", "from pkg.base import x\n", "import pkgextra\n"])
def test_checker_passes_what_the_rules_allow(tmp_path, source):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/base.py": "", "pkg/low/__init__.py": source})
    assert check_package(tmp_path, "pkg", SYNTHETIC) == ([], [])
