"""Grader test cases derived from the repository: solutions, starters, mutants, alternatives."""

from __future__ import annotations

import io
import shutil
import socket
import tarfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"
SOLUTIONS = ROOT / "solutions"
MUTANTS = ROOT / "tests" / "mutants"
ALTERNATIVES = ROOT / "tests" / "alternatives"
META = {"mutant.toml", "alternative.toml", "case.toml"}


def lab_ids() -> list[str]:
    return sorted(p.name for p in LABS.iterdir() if p.is_dir() and p.name[:2].isdigit())


@dataclass(frozen=True)
class Variant:
    lab: str
    kind: str            # "mutant" or "alternative"
    name: str
    path: Path
    description: str
    fails: frozenset[str] = field(default_factory=frozenset)
    delete: tuple[str, ...] = ()
    edits: tuple[dict, ...] = ()  # [[edit]] file / old / new: a targeted change of a solution file
    # [says] check id -> words its message must contain (the mutant's feedback names the real cause)
    says: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.lab}/{self.name}"

    def materialise(self, dest: Path) -> Path:
        """A copy of the solution with ``delete`` removed, the variant's files laid over it, then
        its ``[[edit]]`` replacements applied (each must match: a variant never rots silently)."""
        target = dest / self.lab
        shutil.copytree(SOLUTIONS / self.lab, target)
        for rel in self.delete:
            victim = target / rel
            if victim.is_dir():
                shutil.rmtree(victim)
            elif victim.exists():
                victim.unlink()
        for src in self.path.rglob("*"):
            rel = src.relative_to(self.path)
            if src.is_dir() or rel.name in META:
                continue
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)
        apply_edits(target, self.edits, self.id)
        return target


def apply_edits(target: Path, edits, ident: str) -> None:
    """Targeted replacements in a copied solution; each must match (a variant never rots silently)."""
    for edit in edits:
        path = target / edit["file"]
        text = path.read_text()
        if edit["old"] not in text:
            raise AssertionError(f"{ident}: {edit['old']!r} not found in {edit['file']} "
                                 "(the solution changed: update the variant)")
        path.write_text(text.replace(edit["old"], edit["new"], 1))


def variants(kind: str) -> list[Variant]:
    base = MUTANTS if kind == "mutant" else ALTERNATIVES
    meta_name = f"{kind}.toml"
    found = []
    for lab_dir in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        for vdir in sorted(p for p in lab_dir.iterdir() if p.is_dir()):
            meta = tomllib.loads((vdir / meta_name).read_text()) if (vdir / meta_name).is_file() else {}
            found.append(Variant(lab_dir.name, kind, vdir.name, vdir, meta.get("description", ""),
                                 frozenset(meta.get("fails", [])), tuple(meta.get("delete", [])),
                                 tuple(meta.get("edit", [])),
                                 tuple((k, tuple(v)) for k, v in sorted(meta.get("says", {}).items()))))
    return found


# ---------------------------------------------------------------------------------------------
# tests/sandbox/: hostile and legitimate-but-unusual submissions
# ---------------------------------------------------------------------------------------------
SANDBOX = ROOT / "tests" / "sandbox"


@dataclass(frozen=True)
class RefusedCase:
    """One refused setting: the lab 02 solution with one edit (tests/sandbox/refused.toml)."""

    name: str
    setting: str
    old: str
    new: str
    before_config: bool = False
    lab: str = "02-volumes-persistance"
    more: tuple = ()  # further {old, new} edits of compose.yaml

    def materialise(self, dest: Path) -> Path:
        target = dest / self.lab
        shutil.copytree(SOLUTIONS / self.lab, target)
        edits = [{"file": "compose.yaml", "old": e["old"], "new": e["new"]}
                 for e in ({"old": self.old, "new": self.new}, *self.more)]
        apply_edits(target, edits, self.name)
        return target


def refused_cases() -> list[RefusedCase]:
    data = tomllib.loads((SANDBOX / "refused.toml").read_text())
    return [RefusedCase(**{**case, "more": tuple(case.get("more", []))}) for case in data["case"]]


@dataclass(frozen=True)
class SandboxCase:
    """A folder of tests/sandbox/<lab>/<name>/ with its case.toml.

    ``expect``: "full" (a legitimate but unusual submission: full marks) or "bounded" (a hostile
    one: the grading ends within ``budget_s`` plus a margin, with exactly ``fails`` not passing).
    ``env``: environment for the grader (limits lowered so the test is quick). ``generate``:
    files made at materialisation ({path, size_mb, sparse}) so the repository stays small.
    ``links``: symbolic links made at materialisation ({path, target}).
    """

    variant: Variant
    expect: str
    budget_s: float
    env: dict
    generate: tuple
    links: tuple
    note: str

    @property
    def id(self) -> str:
        return self.variant.id

    def materialise(self, dest: Path) -> Path:
        target = self.variant.materialise(dest)
        for gen in self.generate:
            path = target / gen["path"]
            size = int(gen["size_mb"] * 1024**2)
            with path.open("wb") as fh:
                if gen.get("sparse"):
                    fh.truncate(size)
                else:
                    chunk = bytes(range(256)) * 4096
                    for _ in range(size // len(chunk)):
                        fh.write(chunk)
        for link in self.links:
            (target / link["path"]).symlink_to(link["target"])
        return target


def sandbox_cases(expect: str) -> list[SandboxCase]:
    found = []
    for meta_path in sorted(SANDBOX.glob("*/*/case.toml")):
        meta = tomllib.loads(meta_path.read_text())
        vdir = meta_path.parent
        variant = Variant(vdir.parent.name, "sandbox", vdir.name, vdir, meta.get("description", ""),
                          frozenset(meta.get("fails", [])), tuple(meta.get("delete", [])),
                          tuple(meta.get("edit", [])))
        case = SandboxCase(variant, meta["expect"], float(meta.get("budget_s", 120)), meta.get("env", {}),
                           tuple(meta.get("generate", [])), tuple(meta.get("link", [])), meta.get("note", ""))
        if case.expect == expect:
            found.append(case)
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tar_of(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar holding ``files`` (path -> content): an image layer in tests."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# tests/paths/: a student's path through a lab, from the starter to the solution
# ---------------------------------------------------------------------------------------------
PATHS = ROOT / "tests" / "paths"
STEP_KINDS = ("correct", "detour", "fix")


@dataclass(frozen=True)
class Step:
    """One state of a student's path: the previous state with ``copy`` (files taken as they are in
    the solution: that TODO done as the reference does it), ``edit``/``write``/``delete`` applied (or,
    with ``solution = true``, the reference solution itself).

    ``kind``: "correct" (a step of the instructions, done right), "detour" (a common mistake) or
    "fix" (the detour corrected). ``next``: the first check that does not pass in this state (""
    when all pass); ``says``: words its message must contain (the next thing to do)."""

    name: str
    kind: str
    next: str
    says: tuple[str, ...]
    edits: tuple[dict, ...] = ()
    writes: tuple[dict, ...] = ()
    delete: tuple[str, ...] = ()
    solution: bool = False
    todo: str = ""
    copies: tuple[str, ...] = ()

    def apply(self, lab: str, target: Path) -> None:
        if self.solution:
            shutil.rmtree(target)
            shutil.copytree(SOLUTIONS / lab, target)
            return
        for rel in self.copies:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(SOLUTIONS / lab / rel, target / rel)
        for rel in self.delete:
            victim = target / rel
            shutil.rmtree(victim) if victim.is_dir() else victim.unlink(missing_ok=True)
        for w in self.writes:
            out = target / w["file"]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(w["text"])
        apply_edits(target, self.edits, f"{lab}/{self.name}")


@dataclass(frozen=True)
class StudentPath:
    lab: str
    description: str
    steps: tuple[Step, ...]
    subjects: dict  # check id -> name of the step where its subject first exists

    def states(self, dest: Path):
        """``(step, folder)`` for each step, each state in a folder of its own (cumulative)."""
        current = dest / "state-00-starter" / self.lab
        shutil.copytree(LABS / self.lab, current, ignore=shutil.ignore_patterns("enonce.ipynb", "README.md"))
        for i, step in enumerate(self.steps, 1):
            folder = dest / f"state-{i:02d}-{step.name}" / self.lab
            shutil.copytree(current, folder)
            step.apply(self.lab, folder)
            current = folder
            yield step, folder


def student_paths() -> list[StudentPath]:
    found = []
    for meta_path in sorted(PATHS.glob("*/path.toml")) if PATHS.is_dir() else []:
        meta = tomllib.loads(meta_path.read_text())
        steps = tuple(Step(s["name"], s.get("kind", "correct"), s.get("next", ""), tuple(s.get("says", [])),
                           tuple(s.get("edit", [])), tuple(s.get("write", [])), tuple(s.get("delete", [])),
                           bool(s.get("solution", False)), s.get("todo", ""), tuple(s.get("copy", [])))
                      for s in meta["step"])
        found.append(StudentPath(meta_path.parent.name, meta.get("description", ""), steps,
                                 dict(meta.get("subjects", {}))))
    return found
