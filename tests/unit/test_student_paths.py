"""tests/paths/: each student path is well formed and materialises (no Docker: the grading of
each state is tests/grader/test_paths.py)."""

from __future__ import annotations

import pytest

from autograder.registry import get_lab
from cases import SOLUTIONS, STEP_KINDS, student_paths


@pytest.mark.parametrize("path", student_paths(), ids=lambda p: p.lab)
def test_path_is_well_formed_and_ends_at_the_solution(path, tmp_path):
    lab = get_lab(path.lab)
    checks = {c.id for c in lab.checks}
    names = ["starter"] + [s.name for s in path.steps]
    assert len(set(names)) == len(names), "step names must be unique"
    # Every check says when its subject appears: before that step it must not pass.
    assert set(path.subjects) == checks, f"[subjects] must name every check: {sorted(checks ^ set(path.subjects))}"
    assert set(path.subjects.values()) <= set(names), "a subject names an unknown step"
    for step in path.steps:
        assert step.kind in STEP_KINDS, step.name
        assert step.next in checks | {""}, f"{step.name}: next = {step.next!r} is not a check of the lab"
        assert step.next or not step.says, f"{step.name}: `says` needs a `next` check"
    kinds = [s.kind for s in path.steps]
    for i, kind in enumerate(kinds):
        if kind == "detour":
            assert "fix" in kinds[i + 1:], f"{path.steps[i].name}: a detour is followed by its fix"
    assert kinds.count("correct") >= 3, "a path has several correct steps"
    last = path.steps[-1]
    assert last.solution and last.kind == "correct" and last.next == "", "a path ends at the solution"
    *_, (step, folder) = path.states(tmp_path)  # every edit applies (a path never rots silently)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == \
        sorted(p.relative_to(SOLUTIONS / path.lab) for p in (SOLUTIONS / path.lab).rglob("*"))


def test_every_lab_has_a_student_path():
    from cases import lab_ids

    assert sorted(p.lab for p in student_paths()) == lab_ids()
