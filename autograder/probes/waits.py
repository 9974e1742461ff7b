"""Waiting on a condition with a deadline, never a fixed sleep: a container running, healthy, a predicate true."""

from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

import docker.errors

from autograder.core import Fail
from autograder.engine.sandbox import DockerStepError

from autograder.probes.containers import container_gone, inspect_field, logs_tail


T = TypeVar("T")


class Timeout(Exception):
    def __init__(self, last: object):
        super().__init__(str(last))
        self.last = last


def wait_until(condition: Callable[[], Optional[T]], timeout: float, *,
               give_up: Callable[[], Optional[str]] = lambda: None,
               interval: float = 0.2, max_interval: float = 2.0) -> T:
    """Poll ``condition`` until it returns a truthy value or ``timeout`` passes.

    ``give_up`` is asked between polls; when it returns a reason (e.g. "the
    container exited") the wait stops at once with :class:`Timeout` carrying it.
    Exceptions raised by ``condition`` count as "not yet" and the last one is kept.
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
        wait_until(lambda: _is_running(container), timeout, give_up=lambda: container_gone(container))
    except Timeout as exc:
        raise Fail(expected="le conteneur reste démarré",
                   observed=f"{exc.last}\nDerniers journaux :\n{logs_tail(container)}",
                   hint="lancez l'image avec `docker run` et lisez l'erreur affichée.") from None


def _is_running(container) -> bool:
    container.reload()
    return container.status == "running"


def health_status(container, timeout: float = 90.0) -> str:
    """Wait for the container's HEALTHCHECK verdict (``healthy`` or :class:`Fail`)."""
    if inspect_field(container, "Config.Healthcheck.Test") in (None, [], ["NONE"]):
        raise Fail(expected="un healthcheck défini pour ce service",
                   observed="aucun healthcheck (docker inspect : Config.Healthcheck vide)",
                   hint="ajoutez un bloc `healthcheck:` (test, interval, timeout, retries, start_period).",
                   rule="CIS Docker 4.6, DL3057")

    def healthy() -> bool:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status")
        if status == "unhealthy":
            raise _Unhealthy()
        return status == "healthy"

    try:
        wait_until(healthy, timeout, give_up=lambda: container_gone(container))
    except (_Unhealthy, Timeout) as exc:
        health = container.attrs["State"].get("Health", {})
        last = (health.get("Log") or [{}])[-1]
        raise Fail(expected="le conteneur devient « healthy »",
                   observed=f"état {health.get('Status', '?')} "
                            f"({getattr(exc, 'last', '') or 'unhealthy'}) ; dernier test : code "
                            f"{last.get('ExitCode', '?')}, sortie « {str(last.get('Output', '')).strip()[:300]} »",
                   hint="lancez la commande du healthcheck avec `docker compose exec SERVICE …` ; "
                        "vérifiez l'utilisateur et la base passés à pg_isready.") from None
    return "healthy"


class _Unhealthy(Exception):
    pass
