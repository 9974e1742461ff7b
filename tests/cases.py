"""Grader test cases derived from the repository: solutions, starters, mutants, alternatives."""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"
SOLUTIONS = ROOT / "solutions"
MUTANTS = ROOT / "tests" / "mutants"
ALTERNATIVES = ROOT / "tests" / "alternatives"
META = {"mutant.toml", "alternative.toml"}


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
        for edit in self.edits:
            path = target / edit["file"]
            text = path.read_text()
            if edit["old"] not in text:
                raise AssertionError(f"{self.id}: {edit['old']!r} not found in {edit['file']} "
                                     "(the solution changed: update the variant)")
            path.write_text(text.replace(edit["old"], edit["new"], 1))
        return target


def variants(kind: str) -> list[Variant]:
    base = MUTANTS if kind == "mutant" else ALTERNATIVES
    meta_name = f"{kind}.toml"
    found = []
    for lab_dir in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        for vdir in sorted(p for p in lab_dir.iterdir() if p.is_dir()):
            meta = tomllib.loads((vdir / meta_name).read_text()) if (vdir / meta_name).is_file() else {}
            found.append(Variant(lab_dir.name, kind, vdir.name, vdir, meta.get("description", ""),
                                 frozenset(meta.get("fails", [])), tuple(meta.get("delete", [])),
                                 tuple(meta.get("edit", []))))
    return found
