"""The GitHub Classroom workflow's shell steps, run here as Actions runs them (`bash --noprofile
--norc -eo pipefail`, in the checked-out repository, the job's env) on lab 01's solution: both
reports, the graded files and the job summary come out. The Actions runtime itself (checkout,
job container, upload-artifact) is not reproduced: no runner here; the workflow's structure is
validated against GitHub's schema in tests/unit/test_ci_templates.py."""

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from autograder.classroom import ci
from cases import ROOT

pytestmark = pytest.mark.docker
LAB = "01-images-conteneurs"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci", *args], cwd=cwd,
                   check=True, capture_output=True, timeout=60)


def test_github_workflow_steps_grade_the_push(tmp_path):
    repo = tmp_path / "depot-etudiant"
    shutil.copytree(ROOT / "solutions" / LAB, repo)
    (workflow,) = [p for p in ci.install(repo, LAB) if p.suffix == ".yml" and ".github" in p.parts]
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "rendu")
    job = yaml.safe_load(workflow.read_text())["jobs"]["correction"]
    summary = tmp_path / "summary.md"
    env = {**os.environ, "LAB": job["env"]["LAB"], "AUTOGRADER_HOME": str(ROOT),
           "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    runs = [s for s in job["steps"] if "run" in s]
    assert [s["name"] for s in runs] == ["Correcteur du cours", "Correction"]
    for step in runs:
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (step["name"], proc.stdout[-3000:], proc.stderr[-3000:])
    assert "Note : 10 / 10" in proc.stdout
    out = repo / "rapport-correcteur"
    data = json.loads((out / "autograder.json").read_text())
    assert data["lab"] == LAB and ci.verify(data) == "" and data["score"] == 10
    assert len(list(ET.parse(out / "junit.xml").getroot().iter("testcase"))) == len(data["checks"])
    assert (out / "rendu" / "Dockerfile").is_file()
    assert "### TP 01-images-conteneurs — 10 / 10" in summary.read_text()
