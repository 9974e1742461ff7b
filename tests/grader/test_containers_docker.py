"""The sandbox's containers are testcontainers DockerContainers with the sandbox's settings, and
their readiness goes through testcontainers' wait strategies (real engine)."""

from __future__ import annotations

import time

import pytest

from autograder.core import Fail
from autograder.engine.docker_api import JOB_LABEL, engine_host, leftovers
from autograder.engine.docker_api import MEM_LIMIT, PIDS_LIMIT
from autograder.engine.sandbox import Sandbox
from autograder.probes.http import wait_http_ok
from autograder.probes.waits import health_status, wait_running

pytestmark = pytest.mark.docker

IMAGE = "python:3.13-slim"
MS = 1_000_000  # nanoseconds


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox() as box:
        yield box
    assert not any(leftovers(box.client, box.job).values())


def test_a_started_container_carries_the_sandbox_settings(sandbox):
    c = sandbox.run(IMAGE, suffix="settings", ports=[8000], command=["sleep", "60"])
    wait_running(c, timeout=30)
    c.reload()
    labels, host = c.attrs["Config"]["Labels"], c.attrs["HostConfig"]
    assert labels[JOB_LABEL] == sandbox.job and labels["org.testcontainers"] == "true"
    assert host["Memory"] == MEM_LIMIT and host["PidsLimit"] == PIDS_LIMIT and host["NetworkMode"] == sandbox.network()
    assert {b["HostIp"] for b in host["PortBindings"]["8000/tcp"]} == {"127.0.0.1", engine_host()}
    assert c.name == sandbox.name("settings")
    assert not [x for x in sandbox.client.containers.list(all=True) if "ryuk" in x.name]


def test_http_strategy_waits_for_the_server_and_stops_when_it_exits(sandbox):
    server = sandbox.run(IMAGE, suffix="http", ports=[8000],
                         command=["sh", "-c", "sleep 1 && exec python -m http.server 8000"])
    assert wait_http_ok(server, 8000, "/", timeout=60).endswith("/")
    crash = sandbox.run(IMAGE, suffix="crash", ports=[8000], command=["sh", "-c", "sleep 2; exit 7"])
    t0 = time.monotonic()
    with pytest.raises(Fail) as err:
        wait_http_ok(crash, 8000, "/", timeout=120)
    assert time.monotonic() - t0 < 60 and "code de sortie 7" in err.value.observed


def test_healthcheck_strategy_healthy_and_unhealthy(sandbox):
    def with_check(suffix, test):
        return sandbox.run(IMAGE, suffix=suffix, command=["sleep", "120"],
                           healthcheck={"test": test, "interval": 300 * MS, "timeout": 2000 * MS, "retries": 1})

    assert health_status(with_check("healthy", ["CMD", "true"]), timeout=60) == "healthy"
    t0 = time.monotonic()
    with pytest.raises(Fail) as err:
        health_status(with_check("sick", ["CMD-SHELL", "echo down; exit 3"]), timeout=120)
    assert time.monotonic() - t0 < 60
    assert "état unhealthy" in err.value.observed and "code 3, sortie « down »" in err.value.observed
