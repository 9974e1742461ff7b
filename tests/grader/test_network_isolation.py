"""Containers the grader starts have no route outside the host unless the lab asks for one."""

from __future__ import annotations

import socket

import pytest

from autograder.engine.compose import ComposeProject
from autograder.engine.policy import NO_MASQUERADE
from autograder.engine.sandbox import Sandbox

pytestmark = pytest.mark.docker

OUTSIDE = "deb.debian.org"  # the one outside host this project's machines reach (package mirror)
PROBE = ("import socket, sys\n"
         "try:\n    socket.create_connection((sys.argv[1], 80), timeout=5).close(); print('joignable')\n"
         "except OSError as e:\n    print('injoignable', e)\n")


@pytest.fixture(scope="module")
def outside_ip():
    try:
        ip = socket.gethostbyname(OUTSIDE)
        socket.create_connection((ip, 80), timeout=5).close()
    except OSError:
        pytest.skip(f"this host itself cannot reach {OUTSIDE}: nothing to isolate from")
    return ip


@pytest.mark.parametrize("internet", [False, True], ids=["isolated", "lab-needs-internet"])
def test_grader_containers_reach_outside_only_when_allowed(internet, outside_ip):
    with Sandbox(internet=internet) as sandbox:
        c = sandbox.run("python:3.13-slim", suffix="net", command=["sleep", "60"])
        code, out = sandbox.exec(c, ["python", "-c", PROBE, outside_ip], timeout=20)
    assert code == 0, out
    assert out.startswith("joignable" if internet else "injoignable"), out


def test_compose_networks_have_no_masquerade(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: debian:trixie-slim\n"
                                           "    command: [sleep, '60']\n    networks: [back]\n"
                                           "networks:\n  back:\n")
    with Sandbox() as sandbox:
        project = ComposeProject(sandbox, tmp_path)
        project.up(timeout=120)
        networks = sandbox.client.networks.list(filters={"label": f"org.4data.autograder.job={sandbox.job}"})
        options = {n.name: n.attrs["Options"] for n in networks}
    assert options and all(o.items() >= NO_MASQUERADE.items() for o in options.values()), options
