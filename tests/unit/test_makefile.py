"""`make help` documents every target, and the ones the README promises exist."""

import os
import re
import subprocess

import pytest

from cases import ROOT


def test_every_phony_target_has_a_description_and_help_lists_it():
    makefile = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    described = dict(re.findall(r"^([a-zA-Z_-]+):.*?## (.+)$", makefile, re.M))
    assert set(phony) == set(described), set(phony) ^ set(described)
    assert {"lab", "test", "check", "images", "help"} <= set(described)
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60).stdout
    for target in described:
        assert f"make {target}" in out


def test_check_without_lab_number_explains_usage():
    proc = subprocess.run(["make", "--no-print-directory", "check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "make check LAB=01" in proc.stdout + proc.stderr


def test_every_way_into_jupyterlab_opens_the_french_course_page():
    """`make lab`, the course container (image and compose file) and the Binder badge all land on
    chapters/README.md, the students' entry page, not the maintainers' README."""
    where = {"Makefile": r"default_url=/lab/tree/(\S+)", "docker/course/Dockerfile": r"default_url=/lab/tree/([^\"\s]+)",
             "docker/course/compose.yaml": r"default_url=/lab/tree/([^\"\s]+)",
             "README.md": r"urlpath=lab/tree/([^)\s]+)"}
    for rel, pattern in where.items():
        found = re.findall(pattern, (ROOT / rel).read_text(encoding="utf-8"))
        assert found and set(found) == {"chapters/README.md"}, (rel, found)
    assert (ROOT / "chapters" / "README.md").is_file()


FAKE_PYTHON = """#!/bin/sh
# Stands for `python -m autograder doctor|check ...`: records the call, exits as the test says.
echo "$*" >> "$CALLS"
case "$3" in
  doctor) exit "${DOCTOR_RC:-0}" ;;
  check) echo "Note : 6 / 10"; exit "${CHECK_RC:-0}" ;;
esac
exit 99
"""


def _make_check(tmp_path, doctor_rc, check_rc, *extra, target=("check", "LAB=01")):
    """`make check LAB=01` (or ``target``) with a fake virtual environment whose python stands for
    the grader."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    cksum = subprocess.run(["cksum", "requirements.txt"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()[0]
    (venv / f".installed-{cksum}").touch()  # newer than requirements.txt: make installs nothing
    calls = tmp_path / "calls"
    env = {**os.environ, "CALLS": str(calls), "DOCTOR_RC": str(doctor_rc), "CHECK_RC": str(check_rc)}
    env.pop("MAKEFLAGS", None)
    proc = subprocess.run(["make", "--no-print-directory", *target, f"VENV={venv}", *extra], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    return proc, calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize("doctor_rc, check_rc, extra, expected", [
    (0, 0, (), 0),              # every check passed
    (0, 1, (), 0),              # graded, some checks failed: the student's next steps, not an error
    (0, 1, ("STRICT=1",), 2),   # a CI job that must fail on a failed check
    (0, 0, ("STRICT=1",), 0),
    (0, 2, (), 2),              # the grader could not run or finish (Docker lost, unreadable folder)
    (0, 130, (), 2),            # interrupted
    (2, 0, (), 2),              # the doctor's blocking checks: no engine, no Compose v2
])
def test_make_check_exit_status_tells_a_failed_check_from_a_grader_that_cannot_run(
        tmp_path, doctor_rc, check_rc, extra, expected):
    proc, calls = _make_check(tmp_path, doctor_rc, check_rc, *extra)
    out = proc.stdout + proc.stderr
    assert proc.returncode == expected, out
    assert calls[0].startswith("-m autograder doctor --for check --path labs/01-"), calls
    if doctor_rc:
        assert len(calls) == 1, "the grader must not run when the doctor blocks"
        return
    assert calls[1].startswith("-m autograder check labs/01-") and "Note : 6 / 10" in proc.stdout
    assert ("restent à reprendre" in proc.stdout) == (check_rc == 1)


@pytest.mark.parametrize("doctor_rc, check_rc, extra, expected", [
    (0, 0, (), 0),
    (0, 1, (), 0),
    (0, 1, ("STRICT=1",), 2),
    (0, 0, ("STRICT=1",), 0),
    (0, 2, (), 2),
    (0, 130, (), 2),
    (2, 0, (), 2),
])
def test_make_check_all_exits_as_make_check(tmp_path, doctor_rc, check_rc, extra, expected):
    """`make check-all` grades several labs with the same exit rule as `make check`: the doctor
    first (for every folder), then one grader run; 0 once graded, 2 when it cannot grade."""
    proc, calls = _make_check(tmp_path, doctor_rc, check_rc, *extra, target=("check-all", "LABS=01 2"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == expected, out
    doctor = calls[0].split()
    assert doctor[:5] == ["-m", "autograder", "doctor", "--for", "check"], calls
    assert doctor[5::2] == ["--path", "--path"] and [d.split("-")[0] for d in doctor[6::2]] == \
        ["labs/01", "labs/02"], calls
    if doctor_rc:
        assert len(calls) == 1, "the grader must not run when the doctor blocks"
        return
    graded = calls[1].split()
    assert graded[:3] == ["-m", "autograder", "check"] and [d.split("-")[0] for d in graded[3:]] == \
        ["labs/01", "labs/02"], calls
    assert ("restent à reprendre" in proc.stdout) == (check_rc == 1)


def test_check_all_with_an_unknown_lab_exits_2_before_grading(tmp_path):
    proc, calls = _make_check(tmp_path, 0, 0, target=("check-all", "LABS=01 99"))
    assert proc.returncode == 2 and "TP 99 introuvable" in proc.stdout and calls == []


def test_make_check_exit_statuses_are_documented():
    """The README's student section and `make help` say what make check's exit codes mean."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Pour les étudiants"):readme.index("## Labs")]
    assert "code de sortie 0" in section and "code de sortie 2" in section and "STRICT=1" in section
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60).stdout
    assert "exit 0 once graded" in out and "STRICT=1" in out
