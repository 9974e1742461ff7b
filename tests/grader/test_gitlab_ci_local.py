"""The student release's GitLab job, run locally by gitlab-ci-local on lab 01's solution: it grades
the committed files and leaves both reports (JSON and JUnit) and the graded files as artifacts.

Offline there is no `docker:dind` image (no registry) nor the course image: the job runs with
gitlab-ci-local's shell executor (`--force-shell-executor`, the grader of this checkout through
AUTOGRADER_HOME, this venv's Python) on this machine's engine, and a local CI file that includes
the shipped `.gitlab-ci.yml` and only empties its `services` (GitLab's own merge of an included
job). Everything else — variables, script, artifacts — is the shipped job's.

gitlab-ci-local 4.73.0 is the last release that runs on Node 20 (4.74+ call Set.prototype.union,
Node ≥ 22); it copies the project with rsync. Install: `npm install -g gitlab-ci-local@4.73.0` and
`apt-get install -y rsync` (or GITLAB_CI_LOCAL=/path/to/gitlab-ci-local).
"""

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder.classroom import ci
from autograder.registry import get_lab
from cases import ROOT

pytestmark = pytest.mark.docker

GCL = os.environ.get("GITLAB_CI_LOCAL") or shutil.which("gitlab-ci-local")
LAB = "01-images-conteneurs"
# The shipped job, with the dind service emptied: the host's engine stands in for it.
HOST_ENGINE = "include:\n  - local: .gitlab-ci.yml\ncorrection:\n  services: []\n"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci", *args], cwd=cwd,
                   check=True, capture_output=True, timeout=60)


def _tools_or_skip() -> None:
    """Skipped without gitlab-ci-local or rsync, a failure where CI requires them (.ci/run sets
    COURSE_REQUIRE_GITLAB_CI_LOCAL=1 after installing them)."""
    missing = [why for ok, why in ((GCL, "gitlab-ci-local absent (npm install -g gitlab-ci-local@4.73.0)"),
                                   (shutil.which("rsync"), "rsync absent (gitlab-ci-local copies the project with it)"))
               if not ok]
    if missing and os.environ.get("COURSE_REQUIRE_GITLAB_CI_LOCAL") == "1":
        pytest.fail("; ".join(missing))
    if missing:
        pytest.skip("; ".join(missing))


def test_gitlab_job_under_gitlab_ci_local(tmp_path):
    _tools_or_skip()
    repo = tmp_path / "depot-etudiant"
    shutil.copytree(ROOT / "solutions" / LAB, repo)
    ci.install(repo, LAB)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "rendu")
    (repo / "hote.gitlab-ci.yml").write_text(HOST_ENGINE)  # not committed: not graded, not shipped
    docker_host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [GCL, "correction", "--file", "hote.gitlab-ci.yml", "--force-shell-executor", "--artifacts-to-source",
           "--variable", f"AUTOGRADER_HOME={ROOT}", "--variable", f"DOCKER_HOST={docker_host}",
           "--variable", "DOCKER_TLS_VERIFY=", "--variable", "DOCKER_CERT_PATH=",
           "--variable", "DOCKER_TLS_CERTDIR="]
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "PASS" in log and "correction" in log
    assert "Note : 10 / 10" in log  # the scorecard in the job log

    out = repo / "rapport-correcteur"
    data = json.loads((out / "autograder.json").read_text())
    lab = get_lab(LAB)
    assert data["lab"] == LAB and data["score"] == lab.max_score
    assert ci.verify(data) == ""
    root = ET.parse(out / "junit.xml").getroot()
    cases = list(root.iter("testcase"))
    assert [c.get("name").split(" — ")[0] for c in cases] == [c.id for c in lab.checks]
    assert {c.get("classname") for c in cases} == {LAB}
    assert root.get("failures") == "0" and root.get("errors") == "0"
    graded = sorted(p.name for p in (out / "rendu").iterdir())
    assert "Dockerfile" in graded and ".gitlab-ci.yml" in graded and "hote.gitlab-ci.yml" not in graded
