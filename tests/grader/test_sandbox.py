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
from autograder.runner import grade
from autograder.sandbox import JOB_LABEL, leftovers
from cases import ROOT, refused_cases, sandbox_cases

pytestmark = pytest.mark.docker

NOTHING = {"containers": [], "networks": [], "volumes": [], "images": []}


def summary(report) -> str:
    return "\n".join(f"{r.id}: {r.status.value} {r.earned}/{r.points}\n    {r.message}" for r in report.results)


def container_events(client, since: float, until: float) -> list[dict]:
    return list(client.events(since=dt.datetime.fromtimestamp(since), until=dt.datetime.fromtimestamp(until),
                              filters={"type": "container"}, decode=True))


@pytest.mark.parametrize("case", refused_cases(), ids=lambda c: c.name)
def test_refused_setting_never_starts_a_container(case, tmp_path, docker_client):
    lab = get_lab(case.lab)
    t0 = time.time()
    report = grade(lab, case.materialise(tmp_path))
    events = container_events(docker_client, t0 - 1, time.time() + 1)
    assert events == [], f"{case.name}: containers were created: {events[:3]}"
    for check, result in zip(lab.checks, report.results):
        if check.static and not case.before_config:
            assert result.status is Status.PASSED, summary(report)
            continue
        assert result.status is Status.FAILED and result.earned == 0, summary(report)
        assert "refuse de lancer" in result.message and case.setting in result.message, result.message
        assert "Attendu" in result.message and "À faire" in result.message
    assert leftovers(docker_client) == NOTHING
