"""The disk guard on a shared engine disk: what a job writes stops it, what others write beside
it does not (parallel gradings, the chapter notebooks, an instructor's builds)."""

from __future__ import annotations

import os
import subprocess

import pytest

from autograder.probes.waits import wait_until
from autograder.engine.docker_api import JOB_LABEL, leftovers
from autograder.engine.sandbox import Sandbox

pytestmark = pytest.mark.docker

NOTHING = {"containers": [], "networks": [], "volumes": [], "images": []}


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_DISK_LIMIT_MB", "200")


def test_a_container_writing_past_the_limit_is_stopped(small_limit, docker_client):
    with Sandbox() as box:
        assert box._guard is not None
        box.run("debian:trixie-slim", suffix="gros", entrypoint=["sh", "-c"],
                command=["dd if=/dev/zero of=/gros bs=1M count=1500 status=none; sleep 600"])
        wait_until(lambda: box.stopped, 120)
        assert "arrêté par le correcteur" in box.stopped
        wait_until(lambda: not docker_client.containers.list(filters={"label": f"{JOB_LABEL}={box.job}"}), 60)
    assert leftovers(docker_client, box.job) == NOTHING


def test_writes_beside_the_job_are_not_charged_to_it(small_limit, docker_client, tmp_path):
    with Sandbox() as box:
        guard = box._guard
        if guard is None or guard.path is None:
            pytest.skip("the engine's disk is not this machine's: nothing to write beside it here")
        beside = os.path.join(guard.path, "..", f"autograder-test-beside-{box.job}")
        try:
            subprocess.run(["fallocate", "-l", "400M", beside], check=True, timeout=60)
            # The guard reads the drop, asks the engine what the job holds (nothing), settles.
            wait_until(lambda: guard.account.free_at <= guard.start_free - 300 * 1024**2, 30)
            assert box.stopped is None
            c = box.run("debian:trixie-slim", suffix="petit", entrypoint=["true"])
            assert c.wait(timeout=60)["StatusCode"] == 0
            assert guard.peak < 200 * 1024**2
        finally:
            os.unlink(beside)
    assert leftovers(docker_client, box.job) == NOTHING
