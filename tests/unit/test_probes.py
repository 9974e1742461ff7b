"""Probes that can be judged without Docker, on fake containers."""

import time

import pytest

from autograder.probes.containers import inspect_field, mount_at, pid1_catches
from autograder.probes.waits import Timeout, wait_until


class FakeContainer:
    def __init__(self, attrs):
        self.attrs = attrs

    def reload(self):
        pass


class FakeSandbox:
    def __init__(self, output, code=0):
        self.output, self.code = output, code

    def exec(self, container, cmd, timeout=30, user=""):
        return self.code, self.output


def test_wait_until_returns_the_first_truthy_value():
    calls = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(calls), 5, interval=0.01) == "ready"


def test_wait_until_gives_up_early_with_the_reason():
    t0 = time.monotonic()
    with pytest.raises(Timeout) as err:
        wait_until(lambda: False, 30, give_up=lambda: "le conteneur s'est arrêté")
    assert err.value.last == "le conteneur s'est arrêté" and time.monotonic() - t0 < 1


def test_wait_until_keeps_the_last_error_and_respects_the_deadline():
    def boom():
        raise OSError("connection refused")

    t0 = time.monotonic()
    with pytest.raises(Timeout) as err:
        wait_until(boom, 0.3, interval=0.05)
    assert isinstance(err.value.last, OSError) and time.monotonic() - t0 < 1.5


def test_mount_at_picks_the_deepest_mount():
    c = FakeContainer({"Mounts": [
        {"Type": "volume", "Name": "named", "Destination": "/var/lib/postgresql"},
        {"Type": "volume", "Name": "a" * 64, "Destination": "/var/lib/postgresql/data"},
    ]})
    assert mount_at(c, "/var/lib/postgresql/data")["Name"] == "a" * 64
    assert mount_at(c, "/var/lib/postgresql/data/base/1")["Name"] == "a" * 64
    assert mount_at(c, "/var/lib/postgresql/other")["Name"] == "named"
    assert mount_at(c, "/srv") is None


def test_inspect_field_by_dotted_path():
    c = FakeContainer({"HostConfig": {"Memory": 268435456, "DeviceRequests": None}})
    assert inspect_field(c, "HostConfig.Memory") == 268435456
    assert inspect_field(c, "HostConfig.DeviceRequests") is None
    assert inspect_field(c, "HostConfig.Missing.Deeper") is None


def test_pid1_catches_reads_the_sigcgt_mask():
    catches_term = "Name:\tpython\nSigCgt:\t0000000000004002\n"  # bits 2 (SIGINT) and 15 (SIGTERM)
    assert pid1_catches(FakeSandbox(catches_term), None, 15)
    assert not pid1_catches(FakeSandbox("SigCgt:\t0000000000010002\n"), None, 15)
    assert not pid1_catches(FakeSandbox("", code=1), None, 15)


class ExitedContainer(FakeContainer):
    """A container that exited at once: Docker no longer lists its published ports."""

    status = "exited"

    def logs(self, tail=12):
        return b"Traceback (most recent call last):\nSystemExit: 4"


def test_host_port_of_an_exited_container_says_it_stopped_and_shows_its_logs():
    from autograder.core import Fail
    from autograder.probes.containers import host_port

    c = ExitedContainer({"NetworkSettings": {"Ports": {}}, "State": {"ExitCode": 4}})
    with pytest.raises(Fail) as exc:
        host_port(c, 8000)
    assert "s'est arrêté (code de sortie 4)" in str(exc.value.observed)
    assert "SystemExit: 4" in str(exc.value.observed)


def test_host_port_of_a_running_container_without_publication_is_the_graders_problem():
    from autograder.core import Fail
    from autograder.probes.containers import host_port

    c = FakeContainer({"NetworkSettings": {"Ports": {}}, "State": {}})
    c.status = "running"
    with pytest.raises(Fail) as exc:
        host_port(c, 8000)
    assert exc.value.observed == "aucune publication"
