"""Lab 13's Podman engine (autograder/engine/podman.py) without a Podman: where the API is looked
for, the ping that tells Podman from Docker (a tiny HTTP server on a unix socket plays each), the
sandbox factory; and the runner's rule for checks whose prerequisite cannot be judged here."""

from __future__ import annotations

import http.server
import json
import socketserver
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from autograder.core import Fail, GraderUnavailable, Lab, Skip, Status
from autograder.engine import podman
from autograder.engine.runner import grade
from autograder.engine.sandbox import Sandbox

RUN_SOCKET = "/run/podman/podman.sock"


# -- candidates ------------------------------------------------------------------------------------------
@pytest.fixture
def no_podman_env(monkeypatch, tmp_path):
    """No address from the environment, no podman command, no runtime directory socket."""
    for var in ("PODMAN_HOST", "CONTAINER_HOST", "DOCKER_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setattr(podman, "_from_cli", lambda: [])
    monkeypatch.setattr(podman.shutil, "which", lambda name: None)
    return tmp_path


def the_run_socket() -> list[tuple[str, str]]:
    """The system-wide socket, which this machine may or may not have."""
    return [(f"unix://{RUN_SOCKET}", f"le socket {RUN_SOCKET}")] if Path(RUN_SOCKET).exists() else []


def test_candidates_order_and_deduplication(no_podman_env, monkeypatch):
    runtime = no_podman_env
    (runtime / "podman").mkdir()
    (runtime / "podman" / "podman.sock").touch()
    monkeypatch.setenv("PODMAN_HOST", "/var/tmp/pod.sock")              # a bare path
    monkeypatch.setenv("CONTAINER_HOST", "unix:///var/tmp/pod.sock")    # the same address
    monkeypatch.setenv("DOCKER_HOST", " tcp://127.0.0.1:2375 ")
    monkeypatch.setattr(podman, "_from_cli", lambda: [
        ("unix:///machine/podman.sock", "`podman machine inspect`"),
        ("tcp://127.0.0.1:2375", "`podman info`"),                      # already given by DOCKER_HOST
        (f"unix://{runtime}/podman/podman.sock", "`podman info`"),      # the runtime socket, found first here
    ])
    assert podman.candidates() == [
        ("unix:///var/tmp/pod.sock", "la variable PODMAN_HOST"),
        ("tcp://127.0.0.1:2375", "la variable DOCKER_HOST"),
        ("unix:///machine/podman.sock", "`podman machine inspect`"),
        (f"unix://{runtime}/podman/podman.sock", "`podman info`"),
    ] + the_run_socket()


def test_candidates_ignore_blank_variables_and_absent_sockets(no_podman_env, monkeypatch):
    monkeypatch.setenv("PODMAN_HOST", "   ")
    monkeypatch.setenv("CONTAINER_HOST", "")
    assert podman.candidates() == the_run_socket()
    (no_podman_env / "podman").mkdir()
    (no_podman_env / "podman" / "podman.sock").touch()
    assert podman.candidates()[0] == (f"unix://{no_podman_env}/podman/podman.sock",
                                      f"le socket {no_podman_env}/podman/podman.sock")


def test_a_bare_path_becomes_a_unix_url():
    assert podman._as_url(" /run/user/1000/podman/podman.sock\n") == "unix:///run/user/1000/podman/podman.sock"
    assert podman._as_url("ssh://core@127.0.0.1:2222/run/podman/podman.sock").startswith("ssh://")
    assert podman._as_url("unix:///x.sock") == "unix:///x.sock"


def test_from_cli_reads_the_machine_and_info_answers(monkeypatch):
    answers = {
        ("machine", "inspect"): "/Users/me/.local/share/containers/podman/machine/podman.sock\n<no value>\n",
        ("info",): json.dumps({"host": {"remoteSocket": {"path": "/run/user/1000/podman/podman.sock",
                                                         "exists": True}}}),
    }
    monkeypatch.setattr(podman, "_cli", lambda *args: answers[args[:2] if args[0] == "machine" else args[:1]])
    assert podman._from_cli() == [
        ("unix:///Users/me/.local/share/containers/podman/machine/podman.sock", "`podman machine inspect`"),
        ("unix:///run/user/1000/podman/podman.sock", "`podman info`"),
    ]
    answers[("info",)] = json.dumps({"host": {"remoteSocket": {"path": "/run/podman/podman.sock", "exists": False}}})
    answers[("machine", "inspect")] = ""
    assert podman._from_cli() == []   # a socket podman says is absent is not offered
    answers[("info",)] = "not json"
    assert podman._from_cli() == []


def test_cli_without_podman_runs_nothing(monkeypatch):
    monkeypatch.setattr(podman.shutil, "which", lambda name: None)

    def forbidden(*args, **kwargs):
        raise AssertionError("podman must not run when it is not installed")

    monkeypatch.setattr(podman.subprocess, "run", forbidden)
    assert podman._cli("info") == ""


@pytest.mark.parametrize("outcome, expected", [
    (subprocess.CompletedProcess([], 0, stdout="  /run/x.sock \n", stderr=""), "/run/x.sock"),
    (subprocess.CompletedProcess([], 125, stdout="partial", stderr="Error: no machine"), ""),
    (subprocess.TimeoutExpired(["podman"], podman.CLI_TIMEOUT_S), ""),
    (OSError("exec format error"), ""),
])
def test_cli_answer_failure_and_hang(monkeypatch, outcome, expected):
    monkeypatch.setattr(podman.shutil, "which", lambda name: "/usr/bin/podman")
    seen = {}

    def fake_run(cmd, **kwargs):
        seen.update(cmd=cmd, timeout=kwargs.get("timeout"))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(podman.subprocess, "run", fake_run)
    assert podman._cli("machine", "inspect") == expected
    assert seen == {"cmd": ["podman", "machine", "inspect"], "timeout": podman.CLI_TIMEOUT_S}


# -- ping and find_podman -----------------------------------------------------------------------------------
class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(path: str, podman_version: str | None):
    """An HTTP server on unix socket ``path``: Podman's libpod ping when ``podman_version`` is
    given, else Docker's answer (404 on /libpod)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if podman_version and self.path == podman.LIBPOD + "/_ping":
                self.send_response(200)
                self.send_header("Libpod-Api-Version", podman_version)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")
            else:
                body = b'{"message":"page not found"}'
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args):  # a unix peer has no address to log
            pass

    server = _UnixHTTPServer(path, Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server


@pytest.fixture
def sockets():
    """A short folder for unix sockets (their paths are limited to ~100 bytes) and the servers
    started in it, stopped at the end."""
    servers = []
    with tempfile.TemporaryDirectory(prefix="pod-") as folder:
        def start(name: str, version: str | None) -> str:
            path = f"{folder}/{name}.sock"
            servers.append(serve(path, version))
            return f"unix://{path}"
        yield start
        for server in servers:
            server.shutdown()
            server.server_close()


def test_ping_nothing_listening_is_none_quickly(tmp_path):
    t0 = time.monotonic()
    assert podman.ping(f"unix://{tmp_path}/absent.sock", timeout=2) is None
    assert time.monotonic() - t0 < 2


def test_ping_tells_podman_from_docker(sockets):
    assert podman.ping(sockets("podman", "5.8.6"), timeout=2) == "5.8.6"
    assert podman.ping(sockets("docker", None), timeout=2) is None


def test_ping_an_unreadable_address_is_none():
    assert podman.ping("nonsense://what", timeout=1) is None


def test_find_podman_none_when_nothing_answers(monkeypatch, tmp_path, sockets):
    dead = [(f"unix://{tmp_path}/a.sock", "la variable PODMAN_HOST"),
            (sockets("docker", None), "la variable DOCKER_HOST")]
    monkeypatch.setattr(podman, "candidates", lambda: dead)
    assert podman.find_podman() is None


def test_find_podman_takes_the_first_that_answers_as_podman(monkeypatch, tmp_path, sockets):
    first, second = sockets("first", "5.8.6"), sockets("second", "4.9.3")
    found = [(f"unix://{tmp_path}/a.sock", "la variable PODMAN_HOST"),
             (sockets("docker", None), "la variable DOCKER_HOST"), (first, "`podman info`"), (second, "le socket /run/podman/podman.sock")]
    monkeypatch.setattr(podman, "candidates", lambda: found)
    assert podman.find_podman() == podman.PodmanEngine(first, "5.8.6", "`podman info`")


def test_find_podman_through_the_environment(no_podman_env, monkeypatch, sockets):
    url = sockets("env", "5.4.2")
    monkeypatch.setenv("CONTAINER_HOST", url.removeprefix("unix://"))  # a bare path works too
    assert podman.find_podman() == podman.PodmanEngine(url, "5.4.2", "la variable CONTAINER_HOST")


# -- libpod errors and the sandbox factory --------------------------------------------------------------
def response(status: int, body: bytes) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body
    return r


def test_libpod_error_says_podmans_words():
    assert podman.libpod_error(response(500, b'{"cause":"no such secret","message":"secret db: no such secret"}')) \
        == "secret db: no such secret"
    assert podman.libpod_error(response(400, b'{"message":"bad yaml"}')) == "bad yaml"
    assert podman.libpod_error(response(502, b"  Bad Gateway \n")) == "Bad Gateway"
    assert podman.libpod_error(response(503, b"")) == "HTTP 503"


def test_sandbox_factory_without_podman_is_the_plain_sandbox(monkeypatch):
    made = object()
    monkeypatch.setattr(podman, "Sandbox", lambda: made)
    assert podman.sandbox_factory(None)() is made

    def no_docker():
        raise GraderUnavailable("Docker ne répond pas : démarrez Docker", "Docker is not reachable")
    monkeypatch.setattr(podman, "Sandbox", no_docker)
    with pytest.raises(GraderUnavailable) as err:
        podman.sandbox_factory(None)()
    assert "Ni Podman ni Docker" in err.value.fr and "PODMAN_HOST" in err.value.fr and "Docker ne répond" in err.value.fr
    factory = podman.sandbox_factory(podman.PodmanEngine("unix:///x.sock", "5.8.6", "test"))
    assert factory is not Sandbox and callable(factory)


# -- the runner: a prerequisite not judged here ----------------------------------------------------------
class FakeSandbox:
    job = "ag-test0002"
    labels = {"org.4data.autograder.job": job}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def alive(self):
        return True


def make_lab(ran: list[str]) -> Lab:
    lab = Lab("97-ici", "Essai", files=("f.txt",))

    def check(id: str, requires=(), outcome=None):
        @lab.check(id, id, 1, requires=requires, static=True)
        def verify(g):
            ran.append(id)
            if outcome is not None:
                raise outcome

    check("97-tool", outcome=Skip("pas d'outil sur cette machine"))
    check("97-after-tool", requires=["97-tool"])
    check("97-chain", requires=["97-after-tool"])
    check("97-broken", outcome=Fail("f.txt", "absent", "créez f.txt"))
    check("97-after-broken", requires=["97-broken"])
    check("97-mixed", requires=["97-tool", "97-broken"])
    check("97-ok")
    check("97-after-ok-and-tool", requires=["97-ok", "97-tool"])
    return lab


def test_a_prerequisite_skipped_here_makes_its_dependants_skipped_here(tmp_path):
    ran: list[str] = []
    report = grade(make_lab(ran), tmp_path, sandbox_factory=FakeSandbox)
    r = {x.id: x for x in report.results}
    assert ran == ["97-tool", "97-broken", "97-ok"]  # dependants of an unmet prerequisite never run
    for id in ("97-tool", "97-after-tool", "97-chain", "97-after-ok-and-tool"):
        assert r[id].status is Status.SKIPPED and r[id].skipped_here, id
    assert r["97-after-tool"].message.startswith("Non évalué ici : dépend de 97-tool")
    assert "97-after-tool" in r["97-chain"].message
    assert r["97-after-ok-and-tool"].message.startswith("Non évalué ici : dépend de 97-tool,")
    # Skipped « ici »: out of what can be earned on this machine.
    assert report.attainable == report.max_score - 4


def test_a_failed_prerequisite_makes_its_dependants_skipped_not_here(tmp_path):
    report = grade(make_lab([]), tmp_path, sandbox_factory=FakeSandbox)
    r = {x.id: x for x in report.results}
    assert r["97-broken"].status is Status.FAILED
    for id in ("97-after-broken", "97-mixed"):  # one prerequisite failed for the work: it counts
        assert r[id].status is Status.SKIPPED and not r[id].skipped_here, id
        assert "qui n'a pas réussi" in r[id].message and "97-broken" in r[id].message
    assert r["97-mixed"].message.startswith("Non évalué : dépend de 97-tool, 97-broken")
    assert report.score == 1 and not report.all_passed
