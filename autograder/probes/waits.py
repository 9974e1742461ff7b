"""Waiting on a condition with a deadline, never a fixed sleep: a container running, healthy, a
predicate true.

Readiness uses testcontainers' wait strategies (``testcontainers.core.wait_strategies``) on a
:class:`Target`: any docker SDK container (started by the sandbox or by Compose) seen as a
``WaitStrategyTarget``. The grader adds two things the strategies lack: a wait stops at once when
the container has stopped or the job was stopped (:class:`GaveUp`, asked at every poll), and a
strategy's ``TimeoutError`` becomes :class:`Timeout`, which the probes turn into a French
:class:`~autograder.core.Fail`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

import docker.errors
from docker.models.containers import ExecResult
from testcontainers.core.wait_strategies import (ContainerStatusWaitStrategy, HealthcheckWaitStrategy,
                                                  HttpWaitStrategy, WaitStrategy)

from autograder.core import Fail
from autograder.engine.docker_api import DockerStepError, engine_host

from autograder.probes.containers import container_gone, host_port, inspect_field, logs_tail

if TYPE_CHECKING:  # pragma: no cover
    from autograder.engine.sandbox import Sandbox

T = TypeVar("T")
POLL_S = 0.25


class Timeout(Exception):
    def __init__(self, last: object):
        super().__init__(str(last))
        self.last = last


class GaveUp(BaseException):
    """Raised inside a strategy's poll when waiting longer is pointless (``reason``: the container
    stopped, the job was stopped). A BaseException on purpose: ExecWaitStrategy and
    ``WaitStrategy._poll`` retry on any Exception, and must not retry this."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Target:
    """A docker SDK container as testcontainers' ``WaitStrategyTarget``.

    Published ports are read where the grader reaches them (:func:`host_port` on
    :func:`~autograder.engine.docker_api.engine_host`, never testcontainers' guess); commands run
    through :meth:`Sandbox.exec <autograder.engine.sandbox.Sandbox.exec>` (its timeout and output
    cap); :meth:`check` (the container gone, the sandbox stopped) runs before every poll."""

    def __init__(self, container, sandbox: Optional["Sandbox"] = None, exec_timeout: float = 10):
        self.container = container
        self.sandbox = sandbox
        self.exec_timeout = exec_timeout

    def check(self) -> None:
        reason = (self.sandbox.stopped if self.sandbox is not None else None) or container_gone(self.container)
        if reason:
            raise GaveUp(reason)

    # -- WaitStrategyTarget --
    def get_container_host_ip(self) -> str:
        return engine_host()

    def get_exposed_port(self, port: int) -> int:
        return host_port(self.container, port)

    def get_wrapped_container(self) -> "_Watched":
        return _Watched(self)

    def get_logs(self) -> tuple[bytes, bytes]:
        self.check()
        return self.container.logs(stdout=True, stderr=False), self.container.logs(stdout=False, stderr=True)

    def reload(self) -> None:
        try:
            self.container.reload()
        except docker.errors.NotFound:
            raise GaveUp("le conteneur a disparu") from None

    @property
    def status(self) -> str:
        return self.container.status

    def exec(self, command) -> ExecResult:
        self.check()
        if self.sandbox is None:
            code, out = self.container.exec_run(command)
            return ExecResult(code, out)
        code, text = self.sandbox.exec(self.container, command, timeout=self.exec_timeout)
        return ExecResult(code, text.encode())


class _Watched:
    """The SDK container as strategies see it: ``reload()`` (once per poll) also asks
    :meth:`Target.check`; everything else is the container's."""

    def __init__(self, target: Target):
        self._target = target

    def reload(self) -> None:
        self._target.check()  # reloads the container

    def __getattr__(self, name: str):
        return getattr(self._target.container, name)


class HttpOk(HttpWaitStrategy):
    """``GET path`` answers 200 on the published ``port``; gives up with :meth:`Target.check`."""

    def wait_until_ready(self, container: Target) -> None:
        self._target = container
        super().wait_until_ready(container)

    def _try_http_request(self, url, headers, ssl_context) -> bool:
        self._target.check()
        return super()._try_http_request(url, headers, ssl_context)


class Running(ContainerStatusWaitStrategy):
    """ContainerStatusWaitStrategy for any target (testcontainers' own knows its classes only)."""

    def get_status(self, container: Target) -> str:
        container.reload()
        return container.status


def wait_for(strategy: WaitStrategy, target: Target, timeout: float, poll: float = POLL_S) -> None:
    """Run ``strategy`` on ``target`` for at most ``timeout`` seconds (the probe's, already cut
    to the grading's deadline by the caller: ``g.remaining(…)``).

    :class:`Timeout` with the reason (a French sentence) when the wait gave up, with None when the
    time ran out; a strategy's RuntimeError (a verdict: unhealthy, exited) goes through."""
    strategy.with_startup_timeout(max(0.0, timeout)).with_poll_interval(poll)
    # As in wait_until: a Docker hiccup during a poll counts as "not yet" (strategies built on _poll).
    strategy.with_transient_exceptions(OSError, docker.errors.DockerException, DockerStepError)
    try:
        strategy.wait_until_ready(target)
    except GaveUp as exc:
        raise Timeout(exc.reason) from None
    except TimeoutError:
        raise Timeout(None) from None


def wait_until(condition: Callable[[], Optional[T]], timeout: float, *,
               give_up: Callable[[], Optional[str]] = lambda: None,
               interval: float = 0.2, max_interval: float = 2.0) -> T:
    """Poll ``condition`` until it returns a truthy value or ``timeout`` passes.

    ``give_up`` is asked between polls; when it returns a reason (e.g. "the
    container exited") the wait stops at once with :class:`Timeout` carrying it.
    Exceptions raised by ``condition`` count as "not yet" and the last one is kept.

    For conditions no testcontainers strategy expresses: a value to return (a run id, an
    answer), a container that must *stop*, several containers or a whole Compose project, a
    request made from inside another container, an address on the host. Readiness of one
    container (running, healthy, HTTP 200, a command succeeding) goes through :func:`wait_for`.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last = value
        except (OSError, docker.errors.DockerException, DockerStepError) as exc:
            last = exc
        reason = give_up()
        if reason:
            raise Timeout(reason)
        if time.monotonic() >= deadline:
            raise Timeout(last)
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, max_interval)


def wait_running(container, timeout: float = 20.0) -> None:
    """Wait until the container's process has started (or fail with its logs)."""
    try:
        wait_for(Running(), Target(container), timeout)
    except Timeout as exc:
        last = exc.last or container_gone(container) or f"toujours pas démarré après {int(timeout)} s"
        raise Fail(expected="le conteneur reste démarré",
                   observed=f"{last}\nDerniers journaux :\n{logs_tail(container)}",
                   hint="lancez l'image avec `docker run` et lisez l'erreur affichée.") from None


def health_status(container, timeout: float = 90.0, sandbox: Optional["Sandbox"] = None) -> str:
    """Wait for the container's HEALTHCHECK verdict (``healthy`` or :class:`Fail`): testcontainers'
    HealthcheckWaitStrategy, which stops at the first « unhealthy »."""
    if inspect_field(container, "Config.Healthcheck.Test") in (None, [], ["NONE"]):
        raise Fail(expected="un healthcheck défini pour ce service",
                   observed="aucun healthcheck (docker inspect : Config.Healthcheck vide)",
                   hint="ajoutez un bloc `healthcheck:` (test, interval, timeout, retries, start_period).",
                   rule="CIS Docker 4.6, DL3057")
    try:
        wait_for(HealthcheckWaitStrategy(), Target(container, sandbox), timeout, poll=0.5)
    except (RuntimeError, Timeout) as exc:  # RuntimeError: « unhealthy »
        health = container.attrs["State"].get("Health", {})
        last = (health.get("Log") or [{}])[-1]
        raise Fail(expected="le conteneur devient « healthy »",
                   observed=f"état {health.get('Status', '?')} "
                            f"({getattr(exc, 'last', '') or 'unhealthy'}) ; dernier test : code "
                            f"{last.get('ExitCode', '?')}, sortie « {str(last.get('Output', '')).strip()[:300]} »",
                   hint="lancez la commande du healthcheck avec `docker compose exec SERVICE …` ; "
                        "vérifiez l'utilisateur et la base passés à pg_isready.") from None
    return "healthy"
