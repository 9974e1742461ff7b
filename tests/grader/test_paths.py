"""A student's path through each lab, graded state by state (tests/paths/NN-slug/path.toml).

From the starter, the instructions' steps done one at a time, with common detours (a step done
wrong, then fixed), to the solution. The grader must agree with a careful instructor all along:
- the score never drops when a correct step (or the fix of a detour) is added;
- no check passes before its subject exists (``[subjects]``: the step where each check's subject
  first appears);
- each state's first failing check is the one the path names, and its message names the next
  thing to do (``says``).
The scores along each path are written to build/paths/NN-slug.md (for the issue's closing note).
"""

from __future__ import annotations

import pytest

from autograder.core import Status
from autograder.registry import get_lab
from autograder.engine.runner import grade
from cases import ROOT, student_paths

pytestmark = pytest.mark.docker


def first_failing(report):
    return next((r for r in report.results
                 if r.status in (Status.FAILED, Status.ERROR) and not r.skipped_here), None)


def line(report) -> str:
    return " ".join(f"{r.id}={'✔' if r.status is Status.PASSED else '○' if r.absent else '–' if r.status is Status.SKIPPED else '✘'}"
                    for r in report.results)


@pytest.mark.parametrize("path", student_paths(), ids=lambda p: p.lab)
def test_student_path_is_fair(path, tmp_path, python_latest_alias):
    lab = get_lab(path.lab)
    order = ["starter"] + [s.name for s in path.steps]
    rows, problems = [], []
    baseline = None  # the score of the last correct state (detours do not move it)
    for index, (step, folder) in enumerate([(None, None)] + list(path.states(tmp_path))):
        name = "starter" if step is None else step.name
        report = grade(lab, folder if step else tmp_path / "state-00-starter" / path.lab)
        rows.append((name, step.kind if step else "", report.score, line(report)))
        where = f"[{index}] {name} ({report.score}/{report.max_score})"
        for r in report.results:
            if r.status is Status.ERROR:
                problems.append(f"{where}: {r.id} ended in a grader error: {r.message}")
            appears = order.index(path.subjects[r.id])
            if index < appears and r.status is Status.PASSED:
                problems.append(f"{where}: {r.id} passed before its subject exists (step "
                                f"{path.subjects[r.id]})")
        if step is None or step.kind in ("correct", "fix"):
            if baseline is not None and report.score < baseline:
                problems.append(f"{where}: the score dropped from {baseline} on a {step.kind} step\n"
                                + "\n".join(f"    {r.id}: {r.message[:300]}" for r in report.results
                                            if r.status is not Status.PASSED))
            baseline = report.score
        if step is None:
            continue
        failing = first_failing(report)
        ids = [r.id for r in report.results]
        if step.next and report.results[ids.index(step.next)].skipped_here:
            # Not judged on this machine (lab 13 without Podman): no check before it may fail.
            if failing is not None and ids.index(failing.id) < ids.index(step.next):
                problems.append(f"{where}: the first failing check should be {step.next} (not judged "
                                f"here), got {failing.id}: {failing.message}")
            continue
        if not step.next:
            if report.score != report.attainable:
                problems.append(f"{where}: expected every check to pass; {failing.id if failing else '?'} "
                                f"did not: {failing.message if failing else ''}")
        elif failing is None or failing.id != step.next:
            problems.append(f"{where}: the first failing check should be {step.next}, got "
                            f"{failing.id if failing else 'none'}: {failing.message if failing else ''}")
        else:
            missing = [w for w in step.says if w.lower() not in failing.message.lower()]
            if missing:
                problems.append(f"{where}: {failing.id}'s message should name {missing}:\n{failing.message}")
    out = ROOT / "build" / "paths"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{path.lab}.md").write_text(
        f"# {path.lab}\n\n| step | kind | score | checks |\n|---|---|---|---|\n"
        + "".join(f"| {n} | {k} | {s:g} | {c} |\n" for n, k, s, c in rows))
    assert not problems, "\n".join(problems)
