"""The grader, tested in both directions on every lab (derived from labs/, never listed by hand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from autograder.core import Status
from autograder.registry import get_lab
from autograder.engine.runner import grade
from cases import LABS, ROOT, SOLUTIONS, lab_ids, variants

pytestmark = pytest.mark.docker


def summary(report) -> str:
    return "\n".join(f"{r.id}: {r.status.value} {r.earned}/{r.points}\n    {r.message}"
                     for r in report.results)


def cli_json(folder) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(folder), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("lab", lab_ids())
def test_solution_gets_full_marks(lab):
    code, result = cli_json(SOLUTIONS / lab)
    failed = [c for c in result["checks"] if c["status"] != "passed"]
    # Full marks, except checks this host cannot judge (no GPU, no conda image), skipped with a reason.
    assert result["score"] == result["attainable"], json.dumps(failed, ensure_ascii=False, indent=1)
    assert all(c["message"] for c in result["checks"] if c["skipped_here"])
    if get_lab(lab).engine == "podman" and os.environ.get("PODMAN_HOST"):
        # In the Podman lane (make test-podman) the Podman lab is judged in full: nothing skipped.
        assert not [c["id"] for c in result["checks"] if c["skipped_here"]], json.dumps(result, ensure_ascii=False)
    assert code == 0
    assert result["lab"] == lab and result["max_score"] == get_lab(lab).max_score


@pytest.mark.parametrize("lab", lab_ids())
def test_starter_gets_at_most_20_percent(lab):
    code, result = cli_json(LABS / lab)
    assert code == 1
    assert result["score"] <= 0.2 * result["max_score"], json.dumps(result, ensure_ascii=False, indent=1)
    for check in result["checks"]:
        if check["status"] == "failed":
            assert "Attendu" in check["message"] and "Observé" in check["message"]


@pytest.mark.parametrize("variant", variants("mutant"), ids=lambda v: v.id)
def test_mutant_fails_exactly_what_it_names(variant, tmp_path, python_latest_alias):
    lab = get_lab(variant.lab)
    assert variant.fails, f"{variant.id}: mutant.toml must name the checks that fail"
    assert variant.fails <= {c.id for c in lab.checks}, f"{variant.id} names unknown checks"
    report = grade(lab, variant.materialise(tmp_path))
    not_passed = {r.id for r in report.results if r.status is not Status.PASSED and not r.skipped_here}
    can_fail_here = {r.id for r in report.results if not r.skipped_here}
    assert not_passed == set(variant.fails) & can_fail_here, summary(report)
    for r in report.results:
        assert r.status is not Status.ERROR, summary(report)
        if r.status is Status.FAILED:
            assert "Attendu" in r.message and "À faire" in r.message, r.message
    messages = {r.id: r.message for r in report.results}
    for check, words in variant.says:  # the feedback names the real cause (every problem of it)
        if check not in can_fail_here:  # not judged on this machine (lab 13 without Podman)
            continue
        missing = [w for w in words if w.lower() not in messages[check].lower()]
        assert not missing, f"{check} should name {missing}:\n{messages[check]}"


@pytest.mark.parametrize("variant", variants("alternative"), ids=lambda v: v.id)
def test_alternative_gets_full_marks(variant, tmp_path):
    report = grade(get_lab(variant.lab), variant.materialise(tmp_path))
    assert report.score == report.attainable, summary(report)
