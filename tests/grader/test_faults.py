"""Faults during grading: a step past its timeout, and Ctrl-C. Everything is still removed."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from autograder.probes import wait_until
from autograder.sandbox import JOB_LABEL, leftovers
from cases import ROOT, SOLUTIONS

pytestmark = pytest.mark.docker


def test_build_past_the_budget_fails_with_a_message_and_stops(tmp_path, docker_client):
    folder = tmp_path / "01-images-conteneurs"
    folder.mkdir()
    # A unique RUN line, so no earlier build can serve it from cache.
    (folder / "Dockerfile").write_text(f"FROM python:3.13-slim\nRUN sleep 600 # {secrets.token_hex(4)}\n")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(folder), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "AUTOGRADER_BUDGET_S": "20"})
    assert time.monotonic() - t0 < 120
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    build = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}["01-build"]
    assert build["status"] == "failed" and "trop long" in build["message"]
    # the daemon cancelled the build: no RUN container is left running `sleep 600`
    assert not [c for c in docker_client.containers.list(all=True) if "sleep 600" in " ".join(c.attrs["Args"])]


def test_ctrl_c_removes_everything(tmp_path, docker_client):
    before = {v.name for v in docker_client.volumes.list()}
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "check",
                             str(SOLUTIONS / "02-volumes-persistance")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Interrupt once the stack is up and PostgreSQL holds data on its volumes.
        wait_until(lambda: any(c.status == "running" for c in
                               docker_client.containers.list(filters={"label": JOB_LABEL})), 120)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrompue" in err and "Traceback" not in err
    assert leftovers(docker_client) == {"containers": [], "networks": [], "volumes": [], "images": []}
    assert {v.name for v in docker_client.volumes.list()} - before == set()
