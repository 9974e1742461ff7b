"""The repository stays honest: every lab is complete, and the README matches the code."""

from __future__ import annotations

import json
import re

import pytest

from autograder.registry import all_labs
from cases import LABS, ROOT, SOLUTIONS, variants

LAB_IDS = [lab.id for lab in all_labs()]
STUDENT_ONLY = {"enonce.ipynb", "README.md"}


def test_every_lab_folder_has_a_checks_module_and_back():
    folders = sorted(p.name for p in LABS.iterdir() if p.is_dir())
    assert folders == LAB_IDS
    assert sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir()) == LAB_IDS


@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.id)
def test_lab_is_complete(lab):
    folder, solution = LABS / lab.id, SOLUTIONS / lab.id
    assert (folder / "enonce.ipynb").is_file()
    assert (folder / "README.md").is_file()
    for rel in lab.files:
        assert (folder / rel).is_file(), f"starter file {rel} missing"
        assert (solution / rel).is_file(), f"solution file {rel} missing"
    mutants = [v for v in variants("mutant") if v.lab == lab.id]
    alternatives = [v for v in variants("alternative") if v.lab == lab.id]
    assert len(mutants) >= 4, "write at least four mutants per lab"
    assert len(alternatives) >= 1, "write at least one valid alternative per lab"
    check_ids = {c.id for c in lab.checks}
    for v in mutants:
        assert v.description and v.fails and v.fails <= check_ids, v.id
    for v in mutants + alternatives:
        assert (v.path / f"{v.kind}.toml").is_file(), v.id
        overlay = [p for p in v.path.rglob("*") if p.is_file() and p.name != f"{v.kind}.toml"]
        assert overlay or v.delete or v.edits, f"{v.id} changes nothing"


@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.id)
def test_given_files_are_identical_in_starter_and_solution(lab):
    """Files handed out complete (the app, the SQL script…) must not drift from the solution's."""
    folder = LABS / lab.id
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.is_dir() or rel.name in STUDENT_ONLY or str(rel) in lab.files or \
                ".ipynb_checkpoints" in rel.parts:
            continue
        twin = SOLUTIONS / lab.id / rel
        assert twin.is_file() and twin.read_bytes() == path.read_bytes(), f"{rel} differs"


@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.id)
def test_instructions_list_every_check_with_its_points(lab):
    nb = json.loads((LABS / lab.id / "enonce.ipynb").read_text())
    assert nb["nbformat"] == 4
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    for check in lab.checks:
        row = re.search(rf"\|\s*`?{re.escape(check.id)}`?\s*\|[^\n]*", text)
        assert row, f"{check.id} missing from the grading table of enonce.ipynb"
        points = re.findall(r"\|\s*([\d.,]+)\s*(?:pts?|points?)?\s*\|", row.group(0))
        assert points and float(points[-1].replace(",", ".")) == check.points, row.group(0)


def test_readme_lab_table_matches_registry():
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| \[(\d{2}-[a-z0-9-]+)\]\([^)]*\) \| (.+?) \| ([\d.]+) \| (\d+) \|$", readme, re.M)
    expected = [(lab.id, lab.title, f"{lab.max_score:g}", str(len(lab.checks))) for lab in all_labs()]
    assert rows == expected


def test_shell_scripts_and_dockerfiles_use_lf():
    for path in ROOT.rglob("*"):
        if ".venv" in path.parts or ".git" in path.parts or not path.is_file():
            continue
        if path.suffix in {".sh", ".yaml", ".yml", ".sql"} or path.name == "Dockerfile":
            assert b"\r\n" not in path.read_bytes(), f"{path} has CRLF line endings"
