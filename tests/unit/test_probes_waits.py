"""Readiness through testcontainers' wait strategies, on fake containers (no Docker): the
Target adapter, giving up when the container stops, and the translation of a timeout."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from testcontainers.core.wait_strategies import ExecWaitStrategy, HealthcheckWaitStrategy

from autograder.core import Fail
from autograder.probes.http import wait_http_ok
from autograder.probes.postgres import wait_pg_ready
from autograder.probes.waits import GaveUp, Target, Timeout, health_status, wait_for, wait_running


class Scripted:
    """A docker SDK container whose successive reloads show ``states`` (the last one stays)."""

    def __init__(self, *states, ports=None, health_test=("CMD", "true"), logs=b"starting\nboom"):
        self.states = list(states)
        self.ports = ports or {}
        self.health_test = list(health_test)
        self._logs = logs
        self.reloads = 0
        self.reload()

    def reload(self):
        self.reloads += 1
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        self.status = state.get("Status", "running")
        self.attrs = {"State": state, "Config": {"Healthcheck": {"Test": self.health_test}, "Env": []},
                      "NetworkSettings": {"Ports": self.ports}}

    def logs(self, tail=None, stdout=True, stderr=True):
        return self._logs


class Sandbox:
    def __init__(self, codes, stopped=None):
        self.codes, self.stopped, self.calls = list(codes), stopped, []

    def exec(self, container, cmd, timeout=30, user=""):
        self.calls.append(cmd)
        return (self.codes.pop(0) if len(self.codes) > 1 else self.codes[0]), "out"


RUNNING = {"Status": "running"}
EXITED = {"Status": "exited", "ExitCode": 3}


def test_target_reads_published_ports_where_the_grader_reaches_them(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_ENGINE_HOST", "10.0.0.7")
    c = Scripted(RUNNING, ports={"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "1111"},
                                              {"HostIp": "10.0.0.7", "HostPort": "2222"}]})
    target = Target(c)
    assert target.get_container_host_ip() == "10.0.0.7"
    assert target.get_exposed_port(8000) == 2222
    assert target.get_wrapped_container().attrs is c.attrs  # the SDK container behind it
    assert target.get_logs() == (b"starting\nboom", b"starting\nboom")


def test_target_gives_up_when_the_container_stopped_or_the_job_was_stopped():
    with pytest.raises(GaveUp, match="code de sortie 3"):
        Target(Scripted(EXITED)).check()
    with pytest.raises(GaveUp, match="disque"):
        Target(Scripted(RUNNING), Sandbox([0], stopped="limite de disque atteinte")).check()
    Target(Scripted(RUNNING)).check()


def test_a_strategy_timeout_becomes_timeout_without_a_reason_within_the_deadline():
    c = Scripted({"Status": "running", "Health": {"Status": "starting"}})
    t0 = time.monotonic()
    with pytest.raises(Timeout) as err:
        wait_for(HealthcheckWaitStrategy(), Target(c), 0.3, poll=0.05)
    assert err.value.last is None
    assert 0.3 <= time.monotonic() - t0 < 2


def test_exec_strategy_stops_at_once_when_the_container_exits():
    """ExecWaitStrategy retries on any Exception: GaveUp must still end it."""
    c = Scripted(RUNNING, RUNNING, EXITED)
    t0 = time.monotonic()
    with pytest.raises(Timeout) as err:
        wait_for(ExecWaitStrategy(["pg_isready"]), Target(c, Sandbox([2])), 30, poll=0.01)
    assert "code de sortie 3" in err.value.last and time.monotonic() - t0 < 5


def test_wait_running_fails_with_the_exit_code_and_the_logs():
    with pytest.raises(Fail) as err:
        wait_running(Scripted({"Status": "created"}, EXITED), timeout=10)
    assert "code de sortie 3" in err.value.observed and "boom" in err.value.observed
    wait_running(Scripted({"Status": "created"}, RUNNING), timeout=10)


def test_health_status_healthy_and_unhealthy_at_once_with_the_last_test():
    assert health_status(Scripted({"Status": "running", "Health": {"Status": "starting"}},
                                  {"Status": "running", "Health": {"Status": "healthy"}}), timeout=10) == "healthy"
    sick = {"Status": "running", "Health": {"Status": "unhealthy",
                                            "Log": [{"ExitCode": 2, "Output": "no response\n"}]}}
    t0 = time.monotonic()
    with pytest.raises(Fail) as err:
        health_status(Scripted({"Status": "running", "Health": {"Status": "starting"}}, sick), timeout=60)
    assert time.monotonic() - t0 < 5
    assert err.value.observed == "état unhealthy (unhealthy) ; dernier test : code 2, sortie « no response »"


def test_health_status_without_healthcheck_and_when_the_container_exits():
    with pytest.raises(Fail) as err:
        health_status(Scripted(RUNNING, health_test=["NONE"]), timeout=5)
    assert err.value.rule == "CIS Docker 4.6, DL3057"
    with pytest.raises(Fail) as err:
        health_status(Scripted({"Status": "running", "Health": {"Status": "starting"}},
                               {"Status": "exited", "ExitCode": 1, "Health": {"Status": "starting"}}), timeout=60)
    assert "état starting (le conteneur s'est arrêté (code de sortie 1))" in err.value.observed


def test_wait_pg_ready_polls_pg_isready_through_the_sandbox():
    box = Sandbox([2, 2, 0])
    wait_pg_ready(box, Scripted(RUNNING), timeout=20)
    assert len(box.calls) == 3 and box.calls[0][:5] == ["pg_isready", "-q", "-h", "127.0.0.1", "-U"]
    with pytest.raises(Fail) as err:
        wait_pg_ready(Sandbox([2]), Scripted(RUNNING), timeout=0.3)
    assert err.value.observed.startswith("toujours pas prêt après 0 s\nDerniers journaux :\nstarting")


@pytest.fixture()
def server():
    codes = {"/ok": 200, "/broken": 500}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(codes.get(self.path, 404))
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_wait_http_ok_uses_the_published_port_and_says_what_answered(server, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_ENGINE_HOST", raising=False)
    c = Scripted(RUNNING, ports={"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(server)}]})
    assert wait_http_ok(c, 8000, "/ok", timeout=10) == f"http://127.0.0.1:{server}/ok"
    with pytest.raises(Fail) as err:
        wait_http_ok(c, 8000, "/broken", timeout=0.5)
    assert err.value.observed.startswith("pas de réponse 200 sur /broken en 0 s (dernier essai : HTTP 500)")


def test_wait_http_ok_stops_when_the_container_exits(server):
    ports = {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(server)}]}
    c = Scripted(RUNNING, RUNNING, {"Status": "exited", "ExitCode": 3}, ports=ports)
    t0 = time.monotonic()
    with pytest.raises(Fail) as err:
        wait_http_ok(c, 8000, "/missing", timeout=60)
    assert time.monotonic() - t0 < 5
    assert err.value.observed.startswith("le conteneur s'est arrêté (code de sortie 3)\nDerniers journaux :")


class Removed(Scripted):
    def reload(self):
        super().reload()
        if self.reloads > 2:
            import docker.errors

            raise docker.errors.NotFound("No such container")


def test_wait_running_on_a_removed_container_says_so():
    with pytest.raises(Fail) as err:
        wait_running(Removed({"Status": "created"}), timeout=10)
    assert err.value.observed.startswith("le conteneur a disparu")
