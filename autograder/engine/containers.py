"""The containers the grader starts, as testcontainers' :class:`DockerContainer`\\ s.

:class:`~autograder.engine.sandbox.Sandbox` stays the one door: it computes every parameter
(job label, limits, network, names, 127.0.0.1 port bindings) and translates errors. This module
only makes testcontainers start the container with exactly those parameters, through the
sandbox's own docker SDK client:

- no second client: ``DockerContainer.__init__`` would open one (``docker.from_env``), may copy
  a docker context's host into the process-wide ``DOCKER_HOST`` and log in with
  ``DOCKER_AUTH_CONFIG``; testcontainers' ``DockerClient.create`` would join a guessed "host
  network" when the grader runs in a container. :class:`SandboxDocker` does none of that;
- no Ryuk reaper (its image is not available offline, and the sandbox removes what carries its
  job label): :func:`ryuk_disabled` turns it off while the grader starts a container, whatever
  the user's ``TESTCONTAINERS_RYUK_DISABLED`` or ``~/.testcontainers.properties`` say;
- no ``TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX``: the image is the student's build, not Docker Hub's;
- the host of published ports is the sandbox's (``engine_host``), never testcontainers' guess.

testcontainers adds its ``org.testcontainers.*`` labels next to the job label.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import docker
import docker.errors
from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient
from testcontainers.core.labels import create_labels

_ryuk_lock = threading.Lock()
_ryuk_users = 0
_ryuk_saved: Optional[bool] = None


@contextmanager
def ryuk_disabled() -> Iterator[None]:
    """testcontainers' Ryuk reaper off while the block runs (nested and threaded uses share it)."""
    global _ryuk_users, _ryuk_saved
    with _ryuk_lock:
        if _ryuk_users == 0:
            _ryuk_saved = testcontainers_config._ryuk_disabled
            testcontainers_config.ryuk_disabled = True
        _ryuk_users += 1
    try:
        yield
    finally:
        with _ryuk_lock:
            _ryuk_users -= 1
            if _ryuk_users == 0:
                testcontainers_config._ryuk_disabled = _ryuk_saved


class SandboxDocker(DockerClient):
    """testcontainers' ``DockerClient`` over an existing docker SDK client (the sandbox's: its
    DOCKER_HOST and timeouts). ``create`` is the SDK's, with testcontainers' labels added; an
    image missing locally is pulled first, as ``docker run`` does."""

    def __init__(self, client: docker.DockerClient, host: Callable[[], str]):  # noqa: D107
        # DockerClient.__init__ is skipped on purpose: see the module's docstring.
        self.client = client
        self._host = host

    def create(self, image: str, command=None, environment=None, ports=None, labels=None,
               detach: bool = False, **kwargs: Any):
        def create():
            return self.client.containers.create(image, command=command, environment=environment, ports=ports,
                                                 labels=create_labels(image, labels), detach=detach, **kwargs)

        try:
            return create()
        except docker.errors.ImageNotFound:
            self.client.images.pull(image)
            return create()

    def host(self) -> str:
        return self._host()

    def get_connection_mode(self) -> ConnectionMode:
        return ConnectionMode.docker_host  # published ports, on host()


class SandboxContainer(DockerContainer):
    """A ``DockerContainer`` whose every parameter comes from the sandbox (docker SDK
    ``containers.create`` keywords: ``name``, ``labels``, limits, ``network``/``network_mode``,
    ``ports``, ``environment``, ``volumes``, ``tmpfs``, …).

    :meth:`start` is testcontainers' own (create, start, then the wait strategy if one is set),
    Ryuk off. :meth:`get_wrapped_container` is the docker SDK container the probes use."""

    def __init__(self, client: docker.DockerClient, image: str, *, host: Callable[[], str], **params: Any):
        # Not DockerContainer.__init__ (it opens a second client): the same attributes, set from
        # the sandbox's parameters. tests/unit/test_engine_containers.py checks start() uses them all.
        params.pop("detach", None)
        self.image = image
        self.env = params.pop("environment", None) or {}
        self.ports = params.pop("ports", None) or {}
        self.volumes = _mounts(params.pop("volumes", None))
        self.tmpfs = params.pop("tmpfs", None) or {}
        self._command = params.pop("command", None)
        self._name = params.pop("name", None)
        self._docker = SandboxDocker(client, host)
        self._container = None
        self._network = None
        self._network_aliases = None
        self._kwargs = params
        self._wait_strategy = None
        self._cached_container_info = None
        self._transferable_specs = []

    def start(self) -> "SandboxContainer":
        with ryuk_disabled():
            return super().start()

    def create_only(self):
        """The container created with the same parameters but not started (``docker create``)."""
        self._container = self._docker.create(
            self.image, command=self._command, environment=self.env, ports=self.ports, name=self._name,
            volumes=self.volumes, tmpfs=self.tmpfs, **self._kwargs)
        return self._container

    def get_container_host_ip(self) -> str:
        return self._docker.host()

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        # DockerContainer.stop closes the client: here it is the sandbox's, which lives on.
        if self._container is not None:
            self._container.remove(force=force, v=delete_volume)


def _mounts(volumes) -> dict:
    """docker SDK ``volumes`` (``{src: {"bind", "mode"}}`` or ``["src:dst[:mode]"]``) as
    DockerContainer's ``{src: {"bind": dst, "mode": mode}}``."""
    if not volumes:
        return {}
    if isinstance(volumes, dict):
        return {src: {"bind": m["bind"], "mode": m.get("mode", "rw")} for src, m in volumes.items()}
    out = {}
    for item in volumes:
        src, dst, *mode = item.split(":")
        out[src] = {"bind": dst, "mode": mode[0] if mode else "rw"}
    return out


__all__ = ["SandboxContainer", "SandboxDocker", "ryuk_disabled"]
