"""Where a lab lives, and deleting a lab removes exactly that lab.

:func:`places.lab_places` names every place of a lab. Here: each lab of the registry has all its
required places, nothing names a lab the registry lacks, and taking two labs (05 and the last one)
out of a copy of the repository leaves the layout, unit and registry tests green, with the
registry listing exactly the other labs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.registry import all_labs
from places import ROOT, lab_places, orphans, remove_lab

LAB_IDS = [lab.id for lab in all_labs()]
# The labs the removal test takes out: one from the middle and the highest number.
REMOVED = sorted({next((i for i in LAB_IDS if i.startswith("05-")), LAB_IDS[len(LAB_IDS) // 2]), LAB_IDS[-1]})
# What runs in the copy: the layout tests (this file's removal test left out: it would recurse),
# the unit tests, and the registry's users (the quiz questions are derived from the lab modules).
IN_COPY = ["tests/test_layout.py", "tests/test_lab_places.py", "tests/unit", "tests/nbgrader/test_quiz.py"]
COPY_TIMEOUT_S = 900
NO_DOCKER = "unix:///nonexistent/docker.sock"
# Unit tests that need an engine without the `docker` mark (reported; mark them and drop them here).
@pytest.mark.parametrize("lab", LAB_IDS)
def test_every_lab_has_all_its_places(lab):
    missing = [str(p) for p in lab_places(lab) if p.required and not p.exists()]
    assert not missing, f"{lab} lacks: " + "; ".join(missing)


def test_no_place_names_a_lab_the_registry_lacks():
    assert orphans(LAB_IDS) == []


def test_orphans_are_found_in_every_required_place():
    """The orphan finder itself: with the last lab left out of the list, each of its required
    places is reported."""
    found = orphans(LAB_IDS[:-1])
    for place in lab_places(LAB_IDS[-1]):
        if place.required:
            assert any(f.startswith(place.path) for f in found), place


def test_a_lab_s_own_places_belong_to_it_alone():
    owners: dict[str, str] = {}
    for lab in LAB_IDS:
        for place in lab_places(lab):
            if place.kind != "section":
                assert owners.setdefault(place.path, lab) == lab, f"{place.path}: {owners[place.path]} and {lab}"


def test_cutting_a_section_leaves_the_other_labs_parts(tmp_path):
    """Each section cut of lab A keeps lab B's part of the same file (README row, quiz answers…)."""
    first, last = LAB_IDS[0], LAB_IDS[-1]
    for lab, other in ((first, last), (last, first)):
        for place in lab_places(lab):
            if place.kind != "section" or not place.exists():
                continue
            text = (ROOT / place.path).read_text(encoding="utf-8")
            cut = place.cut(text)
            assert cut != text and len(cut) < len(text), place
            if place.path == "README.md" and "row" in place.what:
                assert f"[{other}](" in cut and f"[{lab}](" not in cut
            if place.path.endswith("quiz_answers.toml"):
                assert f'["{other[:2]}-q-' in cut and f'["{lab[:2]}-q-' not in cut


def test_remove_lab_refuses_the_repository_itself():
    with pytest.raises(ValueError):
        remove_lab(LAB_IDS[0], ROOT)


def _copy_repository(dest: Path) -> None:
    """The repository's files as git lists them (tracked, and new files not ignored), never
    .venv or build outputs."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (or no git): the copy is made of the files git lists")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file() or src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel, follow_symlinks=False)
    # The copy's make targets use this venv (COURSE_VENV), whose stamp is named after the checksum
    # of these same requirements: an old date keeps make from installing them again into it.
    os.utime(dest / "requirements.txt", (0, 0))


def _in_copy(copy: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    # The copy's own autograder first (the venv's editable install points at the repository), the
    # Makefile's targets use this venv instead of creating one in the copy, and no Docker engine is
    # reachable: these tests need none, and the copy's conftest must not touch a shared one.
    env = {k: v for k, v in os.environ.items() if k not in {"AUTOGRADER_TEST_VOLUMES_SNAPSHOT", "DOCKER_CONTEXT"}}
    env |= {"PYTHONPATH": str(copy), "COURSE_VENV": sys.prefix, "PYTHONDONTWRITEBYTECODE": "1",
            "DOCKER_HOST": NO_DOCKER}
    return subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_removing_labs_removes_exactly_those_labs(tmp_path):
    """Without Docker: the copy's tests that need no engine nor registry must stay green."""
    started = time.monotonic()
    copy = tmp_path / "repo"
    _copy_repository(copy)
    for lab in REMOVED:
        removed = remove_lab(lab, copy)
        assert {p.path for p in removed if p.required} == {p.path for p in lab_places(lab) if p.required}
        assert not [p for p in lab_places(lab, copy) if p.exists(copy)], f"{lab} still has places"
    names = _in_copy(copy, "-c", "import json, autograder.registry as r; "
                     "print(json.dumps([r.__file__] + [lab.id for lab in r.all_labs()]))", timeout=120)
    assert names.returncode == 0, names.stderr
    where, *listed = json.loads(names.stdout)
    assert Path(where).resolve().is_relative_to(copy.resolve())
    assert listed == [i for i in LAB_IDS if i not in REMOVED]
    assert orphans(listed, copy) == []
    workers = ["-n", "2"] if (os.cpu_count() or 1) >= 2 else []
    deselect = [f"tests/test_lab_places.py::{test_removing_labs_removes_exactly_those_labs.__name__}"]
    proc = _in_copy(copy, "-m", "pytest", *IN_COPY, "-m", "not docker and not network", "-p", "no:cacheprovider",
                    "-q", *workers, *(f"--deselect={test}" for test in deselect), timeout=COPY_TIMEOUT_S)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"tests in the copy without {', '.join(REMOVED)}:\n{tail}"
    # The copy's make targets ran with this venv: its own autograder must still be this repository's.
    here = subprocess.run([sys.executable, "-c", "import autograder; print(autograder.__file__)"], cwd="/",
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, capture_output=True,
                          text=True, timeout=60)
    assert not here.stdout.strip().startswith(str(tmp_path)), "the copy reinstalled itself into this venv"
    print(f"removal of {', '.join(REMOVED)}: copy's tests green in {time.monotonic() - started:.0f} s")
