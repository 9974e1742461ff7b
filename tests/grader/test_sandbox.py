"""The malicious corpus (tests/sandbox/): refused settings never start anything, hostile
submissions are stopped within their budget, legitimate-but-unusual ones keep full marks."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from autograder.core import Status
from autograder.registry import get_lab
from autograder.engine.runner import grade
from autograder.engine.docker_api import JOB_LABEL, leftovers
from autograder.engine.sandbox import Sandbox
from cases import ROOT, refused_cases, sandbox_cases

pytestmark = pytest.mark.docker

NOTHING = {"containers": [], "networks": [], "volumes": [], "images": []}


def summary(report) -> str:
    return "\n".join(f"{r.id}: {r.status.value} {r.earned}/{r.points}\n    {r.message}" for r in report.results)


def container_events(client, job: str, since: float, until: float) -> list[dict]:
    """Events of containers carrying ``job``'s label (other gradings may run on the same engine)."""
    return list(client.events(since=dt.datetime.fromtimestamp(since), until=dt.datetime.fromtimestamp(until),
                              filters={"type": "container", "label": f"{JOB_LABEL}={job}"}, decode=True))


@pytest.mark.parametrize("case", refused_cases(), ids=lambda c: c.name)
def test_refused_setting_never_starts_a_container(case, tmp_path, docker_client):
    lab = get_lab(case.lab)
    sandboxes = []
    t0 = time.time()
    report = grade(lab, case.materialise(tmp_path), sandbox_factory=lambda: sandboxes.append(Sandbox()) or
                   sandboxes[-1])
    events = container_events(docker_client, sandboxes[0].job, t0 - 1, time.time() + 1)
    assert events == [], f"{case.name}: containers were created: {events[:3]}"
    for check, result in zip(lab.checks, report.results):
        if check.static and not case.before_config:
            assert result.status is Status.PASSED, summary(report)
            continue
        assert result.status is Status.FAILED and result.earned == 0, summary(report)
        assert "refuse de lancer" in result.message and case.setting in result.message, result.message
        assert "Attendu" in result.message and "À faire" in result.message
    assert leftovers(docker_client, sandboxes[0].job) == NOTHING


class HostSampler(threading.Thread):
    """Samples the host while a hostile submission is graded: memory used above the starting point,
    disk used under Docker's root, and whether the host still answers."""

    def __init__(self, docker_root: str):
        super().__init__(daemon=True)
        self.docker_root = docker_root
        self.halt = threading.Event()
        self.mem0 = self.available()
        self.disk0 = self.disk_used()
        self.peak_mem = 0
        self.peak_disk = 0

    @staticmethod
    def available() -> int:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
        return 0

    def disk_used(self) -> int:
        import shutil
        return shutil.disk_usage(self.docker_root).used

    def run(self) -> None:
        while not self.halt.wait(0.2):
            self.peak_mem = max(self.peak_mem, self.mem0 - self.available())
            self.peak_disk = max(self.peak_disk, self.disk_used() - self.disk0)

    def stop(self) -> dict:
        self.halt.set()
        self.join(5)
        return {"peak_mem_mb": self.peak_mem // 1024**2, "peak_disk_mb": self.peak_disk // 1024**2}


METRICS: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def write_metrics():
    """The figures the issue's closing note reports: build/sandbox-metrics.json."""
    yield
    if METRICS:
        out = ROOT / "build" / "sandbox-metrics.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(METRICS, indent=1, sort_keys=True))


def grade_case(case, tmp_path, monkeypatch, docker_client):
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    folder = case.materialise(tmp_path)
    sampler = HostSampler(docker_client.info()["DockerRootDir"])
    sampler.start()
    sandboxes = []
    t0 = time.monotonic()
    try:
        report = grade(get_lab(case.variant.lab), folder,
                       sandbox_factory=lambda: sandboxes.append(Sandbox()) or sandboxes[-1])
    finally:
        metrics = sampler.stop()
    metrics["wall_s"] = round(time.monotonic() - t0, 1)
    METRICS[case.id] = metrics
    metrics["job"] = sandboxes[0].job if sandboxes else ""
    return report, metrics


@pytest.mark.parametrize("case", sandbox_cases("full"), ids=lambda c: c.id)
def test_legitimate_but_unusual_gets_full_marks(case, tmp_path, monkeypatch, docker_client):
    report, metrics = grade_case(case, tmp_path, monkeypatch, docker_client)
    assert report.score == report.max_score, summary(report)
    if case.note:
        assert any(case.note in n for n in report.notes), report.notes
    assert leftovers(docker_client, metrics["job"] or None) == NOTHING


@pytest.mark.parametrize("case", sandbox_cases("bounded"), ids=lambda c: c.id)
def test_hostile_submission_is_bounded(case, tmp_path, monkeypatch, docker_client):
    report, metrics = grade_case(case, tmp_path, monkeypatch, docker_client)
    # Stopped within its budget (plus the time to remove what it started).
    assert metrics["wall_s"] < case.budget_s + 30, metrics
    not_passed = {r.id for r in report.results if r.status is not Status.PASSED}
    assert not_passed == set(case.variant.fails), summary(report)
    assert all(r.status is not Status.ERROR for r in report.results), summary(report)
    # The host keeps running: the daemon answers, memory is left, nothing of the job remains.
    assert docker_client.ping()
    assert HostSampler.available() > 512 * 1024**2
    assert leftovers(docker_client, metrics["job"] or None) == NOTHING
    assert not [c for c in docker_client.containers.list(all=True, ignore_removed=True)
                if any(word in " ".join(c.attrs.get("Args") or []) for word in ("sleep 3600", "dd if=/dev/zero"))]
