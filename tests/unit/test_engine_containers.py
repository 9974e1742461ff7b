"""The sandbox's containers as testcontainers DockerContainers, on a fake docker client (no Docker):
exactly the sandbox's parameters, its own client, no Ryuk, published ports on engine_host."""

from __future__ import annotations

import docker.errors
import pytest
from testcontainers.core.config import testcontainers_config

from autograder.engine.containers import SandboxContainer, ryuk_disabled
from autograder.engine.docker_api import JOB_LABEL, MEM_LIMIT, engine_host
from autograder.engine.sandbox import Sandbox


class FakeContainer:
    id = "c0ffee"
    short_id = "c0ffee"

    def __init__(self):
        self.started = False

    def start(self):
        self.started = True


class FakeClient:
    def __init__(self, missing=False):
        self.created, self.pulled, self.missing = [], [], missing
        self.containers, self.images = self, self

    def create(self, image, **kwargs):
        if self.missing and not self.pulled:
            raise docker.errors.ImageNotFound("no such image")
        self.created.append((image, kwargs))
        return FakeContainer()

    def pull(self, image):
        self.pulled.append(image)


def sandbox_params(client) -> Sandbox:
    box = Sandbox.__new__(Sandbox)  # no daemon, no lease, no disk guard: only _params is used
    box.job, box.client, box._network, box.internet = "ag-test", client, "ag-test-net", False
    return box


def test_start_creates_with_exactly_the_sandbox_parameters_and_its_client(monkeypatch):
    client = FakeClient()
    box = sandbox_params(client)
    tc = box.container("img:1", suffix="app", ports=[8000], environment={"A": "1"}, command=["serve"],
                       volumes={"/data": {"bind": "/in", "mode": "ro"}}, tmpfs={"/tmp": ""})
    monkeypatch.setattr(testcontainers_config, "_ryuk_disabled", False)  # the user's setting: Ryuk on
    assert tc.start() is tc
    assert testcontainers_config._ryuk_disabled is False  # restored after the start
    image, kwargs = client.created[0]
    assert image == "img:1" and tc.get_wrapped_container().started
    assert kwargs["name"] == "ag-test-app" and kwargs["network"] == "ag-test-net"
    assert kwargs["labels"][JOB_LABEL] == "ag-test" and kwargs["labels"]["org.testcontainers"] == "true"
    assert kwargs["mem_limit"] == MEM_LIMIT and kwargs["memswap_limit"] == MEM_LIMIT
    assert kwargs["pids_limit"] and kwargs["nano_cpus"] and kwargs["ulimits"] and kwargs["log_config"]
    assert kwargs["ports"] == {"8000/tcp": [("127.0.0.1", None)]}
    assert kwargs["environment"] == {"A": "1"} and kwargs["command"] == ["serve"]
    assert kwargs["volumes"] == {"/data": {"bind": "/in", "mode": "ro"}} and kwargs["tmpfs"] == {"/tmp": ""}
    assert tc.get_container_host_ip() == engine_host() == "127.0.0.1"


def test_create_only_does_not_start_and_a_missing_image_is_pulled_first(monkeypatch):
    client = FakeClient(missing=True)
    box = sandbox_params(client)
    c = box.container("img:2", suffix="files", network_mode="none", volumes=["vol:/io:rw"]).create_only()
    assert not c.started and client.pulled == ["img:2"]
    _, kwargs = client.created[0]
    assert kwargs["network_mode"] == "none" and "network" not in kwargs
    assert kwargs["volumes"] == {"vol": {"bind": "/io", "mode": "rw"}}


def test_engine_host_is_the_host_of_published_ports(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_ENGINE_HOST", "192.168.5.2")
    tc = SandboxContainer(FakeClient(), "img", host=engine_host)
    assert tc.get_container_host_ip() == "192.168.5.2"
    assert tc.get_docker_client().client is tc._docker.client  # the sandbox's client, no other


def test_ryuk_stays_off_while_nested_starts_run(monkeypatch):
    monkeypatch.setattr(testcontainers_config, "_ryuk_disabled", None)
    with ryuk_disabled():
        with ryuk_disabled():
            assert testcontainers_config.ryuk_disabled is True
        assert testcontainers_config.ryuk_disabled is True
    assert testcontainers_config._ryuk_disabled is None


def test_api_errors_keep_their_translation(monkeypatch):
    from autograder.engine.docker_api import DockerStepError

    class Refusing(FakeClient):
        def create(self, image, **kwargs):
            raise docker.errors.APIError("500 Server Error: invalid mount config")

    box = sandbox_params(Refusing())
    box.stopped = None
    with pytest.raises(DockerStepError):
        box.run("img", suffix="x")
