"""Does a container's healthcheck really test its service? Run it where the service is down.

A healthcheck that always succeeds (``["CMD", "true"]``, ``exit 0``, ``… || true``) turns
« healthy » as well as a real one: the verdict alone cannot tell them apart. This probe runs the
very command Docker runs (``Config.Healthcheck.Test`` of the student's container, ``$$`` already
resolved by Compose) in a fresh container of the same image, with the same environment and user,
whose entrypoint is replaced so that the server never starts, and without any network (so the
command cannot reach the real service either). A real healthcheck fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import docker.errors

from autograder.probes.containers import logs_tail
from autograder.probes.waits import Timeout, wait_until
from autograder.engine.docker_api import DockerStepError
from autograder.engine.sandbox import Sandbox

NS = 1_000_000_000
DEFAULT_TIMEOUT_S = 30  # Docker's default healthcheck timeout


@dataclass(frozen=True)
class DownRun:
    """The healthcheck run with the service down: exit code (None: it did not end in time)."""

    command: str
    exit_code: Optional[int]
    output: str

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


def healthcheck_test(container) -> Optional[list[str]]:
    """The container's healthcheck as Docker runs it (``["CMD-SHELL", "…"]`` or ``["CMD", …]``),
    or None when it has none (absent, ``NONE``, or disabled)."""
    container.reload()
    test = ((container.attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE" or len(test) < 2:
        return None
    return list(test)


def shown_test(test: list[str]) -> str:
    return test[1] if test[0] == "CMD-SHELL" else " ".join(test[1:])


def run_with_service_down(sandbox: Sandbox, container, timeout: float = 20.0) -> Optional[DownRun]:
    """Run ``container``'s healthcheck in a copy of its image where the server is not started.

    None when the container has no healthcheck. The probe container carries the job label
    (:meth:`Sandbox.run`) and is removed here in any case."""
    test = healthcheck_test(container)
    if test is None:
        return None
    config = container.attrs.get("Config") or {}
    if test[0] == "CMD-SHELL":
        entrypoint, command = ["/bin/sh", "-c"], [test[1]]
    else:
        entrypoint, command = [test[1]], test[2:]
    limit = ((config.get("Healthcheck") or {}).get("Timeout") or DEFAULT_TIMEOUT_S * NS) / NS
    probe = sandbox.run(config.get("Image") or container.image.id, suffix="health-down",
                        entrypoint=entrypoint, command=command, environment=config.get("Env") or [],
                        user=config.get("User") or "", working_dir=config.get("WorkingDir") or None,
                        network_mode="none")
    # The image may declare a VOLUME (postgres does): the probe's anonymous volume goes with it.
    sandbox.remember_volumes([probe])
    try:
        def ended() -> bool:
            probe.reload()
            return probe.status in ("exited", "dead")

        try:
            wait_until(ended, min(timeout, max(limit, 1.0) + 2.0))
            code: Optional[int] = probe.attrs["State"].get("ExitCode")
        except Timeout:
            code = None  # Docker counts a test that outlives its timeout as a failure
        return DownRun(shown_test(test), code, logs_tail(probe, 5))
    finally:
        try:
            probe.remove(force=True, v=True)
        except (docker.errors.DockerException, DockerStepError):
            pass


__all__ = ["DownRun", "healthcheck_test", "run_with_service_down", "shown_test"]
