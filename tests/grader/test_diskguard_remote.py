"""The disk guard where the grader does not share the engine's machine (Docker Desktop, a grader in
a container): free space read through the engine, and a job that writes too much is stopped."""

from __future__ import annotations

import shutil
import socket

import pytest

from autograder.probes.waits import wait_until
from autograder.engine.docker_api import JOB_LABEL
from autograder.engine.sandbox import Sandbox

pytestmark = pytest.mark.docker


@pytest.fixture
def elsewhere(monkeypatch):
    """The daemon's host name is no longer ours: its root folder here would be another disk."""
    real = socket.gethostname()
    monkeypatch.setattr(socket, "gethostname", lambda: real + "-ailleurs")


def test_free_space_is_read_through_the_engine(elsewhere, docker_client):
    with Sandbox() as sandbox:
        guard = sandbox._guard
        assert guard is not None and guard.path is None, "the guard must measure through the engine"
        probe = guard._probe.container
        assert probe.labels.get(JOB_LABEL) == sandbox.job
        here = shutil.disk_usage(docker_client.info()["DockerRootDir"]).free
        assert abs(guard.start_free - here) < max(here // 20, 512 * 1024**2)
    assert not docker_client.containers.list(all=True, filters={"label": f"{JOB_LABEL}={sandbox.job}"})


def test_a_job_writing_past_the_limit_is_stopped(elsewhere, monkeypatch, docker_client):
    monkeypatch.setenv("AUTOGRADER_DISK_LIMIT_MB", "150")
    with Sandbox() as sandbox:
        assert sandbox._guard is not None and sandbox._guard.path is None
        writer = sandbox.run("debian:trixie-slim", suffix="ecrit", network_mode="none",
                             command=["sh", "-c", "dd if=/dev/zero of=/gros bs=1M count=600; exec tail -f /dev/null"])
        wait_until(lambda: sandbox.stopped is not None, 60)
        assert "Mo" in sandbox.stopped
        wait_until(lambda: (writer.reload() or writer.status) != "running", 30)
