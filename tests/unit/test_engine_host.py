"""Where the grader reaches the ports the engine publishes (AUTOGRADER_ENGINE_HOST): 127.0.0.1 by
default, and also the named address when the grader does not share the engine's network."""

from __future__ import annotations

from autograder.engine.policy import rewrite
from autograder.probes.containers import host_port
from autograder.engine.docker_api import engine_host, port_bindings

CONFIG = {"services": {"web": {"image": "x", "ports": [{"target": 8000, "published": "8000", "protocol": "tcp"}]}}}


class FakeContainer:
    def __init__(self, bindings):
        self.attrs = {"NetworkSettings": {"Ports": {"8000/tcp": bindings}}}

    def reload(self):
        pass


def test_default_is_the_loopback(monkeypatch):
    monkeypatch.delenv("AUTOGRADER_ENGINE_HOST", raising=False)
    assert engine_host() == "127.0.0.1"
    assert port_bindings([8000]) == {"8000/tcp": [("127.0.0.1", None)]}
    ports = rewrite(CONFIG, "ag-1", {})[0]["services"]["web"]["ports"]
    assert [p["host_ip"] for p in ports] == ["127.0.0.1"] and "published" not in ports[0]


def test_another_engine_host_publishes_there_too(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_ENGINE_HOST", "172.30.0.1")
    assert engine_host() == "172.30.0.1"
    # the loopback stays: the daemon itself reaches a registry there (an insecure registry by default)
    assert port_bindings([8000]) == {"8000/tcp": [("127.0.0.1", None), ("172.30.0.1", None)]}
    ports = rewrite(CONFIG, "ag-1", {})[0]["services"]["web"]["ports"]
    assert sorted(p["host_ip"] for p in ports) == ["127.0.0.1", "172.30.0.1"]
    assert all(p["target"] == 8000 and "published" not in p for p in ports)
    c = FakeContainer([{"HostIp": "127.0.0.1", "HostPort": "40001"}, {"HostIp": "172.30.0.1", "HostPort": "40002"}])
    assert host_port(c, 8000) == 40002
    assert host_port(c, 8000, "127.0.0.1") == 40001


def test_a_single_binding_is_used_whatever_its_address(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_ENGINE_HOST", "172.30.0.1")
    assert host_port(FakeContainer([{"HostIp": "127.0.0.1", "HostPort": "40001"}]), 8000) == 40001
