"""Network probes judged without Docker: a fake sandbox answers like `docker exec` does."""

import pytest

from autograder.core import Fail
from autograder.probes.network import (container_networks, http_get_from, is_loopback, published_ports, resolve_in,
    tcp_connect_from)

MISSING = (126, 'OCI runtime exec failed: exec failed: unable to start container process: exec: "{}": '
                'executable file not found in $PATH: unknown\r\n')


class FakeContainer:
    name = "ag-test-front-1"

    def __init__(self, attrs=None):
        self.attrs = attrs or {}

    def reload(self):
        pass


class FakeSandbox:
    """Answers ``exec`` from ``programs``: program name → (code, output) or a callable of the
    command; programs it does not know are missing from the image."""

    def __init__(self, programs):
        self.programs = programs
        self.calls = []

    def exec(self, container, cmd, timeout=30, user=""):
        self.calls.append(cmd)
        if cmd[0] not in self.programs:
            code, text = MISSING
            return code, text.format(cmd[0])
        program = cmd[2] if cmd[0] == "timeout" else cmd[0]
        if program not in self.programs:  # coreutils timeout could not start it
            return 127, f"timeout: failed to run command '{program}': No such file or directory\n"
        answer = self.programs[program]
        return answer(cmd) if callable(answer) else answer


GETENT_DB = "172.18.0.2      STREAM db\n172.18.0.2      DGRAM  \n172.18.0.2      RAW    \n"


def test_resolve_in_reads_getent_and_keeps_ipv4_addresses_once():
    sandbox = FakeSandbox({"timeout": None, "getent": (0, GETENT_DB)})
    assert resolve_in(sandbox, FakeContainer(), "db") == ["172.18.0.2"]
    assert sandbox.calls[0][:2] == ["timeout", "3"]


def test_resolve_in_unknown_name_or_dns_timeout_is_empty():
    assert resolve_in(FakeSandbox({"timeout": None, "getent": (2, "")}), FakeContainer(), "db") == []
    assert resolve_in(FakeSandbox({"timeout": None, "getent": (124, "")}), FakeContainer(), "db") == []


def test_resolve_in_falls_back_to_python_without_getent_nor_timeout():
    sandbox = FakeSandbox({"python3": (0, "10.0.0.5\n")})
    assert resolve_in(sandbox, FakeContainer(), "api") == ["10.0.0.5"]
    assert [c[0] for c in sandbox.calls] == ["timeout", "timeout", "getent", "python3"]


def test_resolve_in_without_any_tool_fails_in_french():
    with pytest.raises(Fail) as err:
        resolve_in(FakeSandbox({}), FakeContainer(), "db")
    assert "python" in err.value.observed and err.value.hint


def test_tcp_connect_from_reports_success_and_the_error():
    ok = FakeSandbox({"python3": (0, "connecté\n")})
    assert tcp_connect_from(ok, FakeContainer(), "db", 5432) == (True, "connecté")
    refused = FakeSandbox({"python3": (1, "[Errno 111] Connection refused\n")})
    assert tcp_connect_from(refused, FakeContainer(), "localhost", 5432) == (False, "[Errno 111] Connection refused")


def test_tcp_connect_from_uses_bash_dev_tcp_in_images_without_python():
    sandbox = FakeSandbox({"timeout": None, "bash": (124, "")})
    connected, detail = tcp_connect_from(sandbox, FakeContainer(), "10.0.0.9", 5432, timeout=2)
    assert not connected and "2 s" in detail
    assert sandbox.calls[-1][:3] == ["timeout", "2", "bash"] and sandbox.calls[-1][-2:] == ["10.0.0.9", "5432"]


def test_http_get_from_parses_status_and_body_or_gives_minus_one():
    sandbox = FakeSandbox({"python3": (0, '503 {"reachable": false}')})
    assert http_get_from(sandbox, FakeContainer(), "http://127.0.0.1:8000/db") == (503, '{"reachable": false}')
    down = FakeSandbox({"python3": (0, "-1 [Errno 111] Connection refused")})
    assert http_get_from(down, FakeContainer(), "http://127.0.0.1:8000/db")[0] == -1


def test_container_networks_maps_names_to_addresses():
    c = FakeContainer({"NetworkSettings": {"Networks": {"job_backend": {"IPAddress": "172.18.0.2"},
                                                        "job_frontend": {"IPAddress": "172.19.0.3"}}}})
    assert container_networks(c) == {"job_backend": "172.18.0.2", "job_frontend": "172.19.0.3"}
    assert container_networks(FakeContainer({})) == {}


@pytest.mark.parametrize("host_ip, expected", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("", False), (None, False), ("0.0.0.0", False), ("192.168.1.10", False), ("::", False),
])
def test_is_loopback(host_ip, expected):
    assert is_loopback(host_ip) is expected


def test_published_ports_reads_the_canonical_form():
    service = {"ports": [{"target": 8080, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp"}],
               "expose": ["8000"]}
    assert published_ports(service) == service["ports"]
    assert published_ports({"expose": ["5432"]}) == []
