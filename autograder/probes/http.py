"""HTTP from the grader to a container's published port: status, and a wait for a 200."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Optional


from autograder.core import Fail
from autograder.engine.sandbox import Sandbox
from autograder.engine.docker_api import engine_host

from autograder.probes.containers import host_port, logs_tail
from autograder.probes.waits import HttpOk, Target, Timeout, wait_for


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_http_ok(container, port: int, path: str, timeout: float = 40.0, *,
                 sandbox: Optional[Sandbox] = None, workdir=None, image: str = "") -> str:
    """Wait until ``GET path`` on the container's published ``port`` answers 200
    (testcontainers' HttpWaitStrategy, on :func:`engine_host`; it stops when the container does).

    With ``sandbox`` (and the submission's ``workdir`` and ``image``), a failure says why from
    evidence (:func:`autograder.probes.diagnose.not_serving`): exit code and logs, a missing CMD, the
    sockets the container listens on, a shell as PID 1."""
    expected = f"HTTP 200 sur le port {port}, route {path}"
    try:
        url = f"http://{engine_host()}:{host_port(container, port)}{path}"
        wait_for(HttpOk(port, path), Target(container, sandbox), timeout)
    except (Timeout, Fail) as exc:
        if sandbox is not None:
            from autograder.probes.diagnose import not_serving  # noqa: PLC0415 - diagnose imports this module

            observed, hint = not_serving(sandbox, container, port, workdir=workdir, image=image)
            raise Fail(expected, observed, hint) from None
        if isinstance(exc, Fail):
            raise
        observed = (f"{exc.last}" if isinstance(exc.last, str) else
                    f"pas de réponse 200 sur {path} en {int(timeout)} s" + last_try(url))
        raise Fail(expected=expected,
                   observed=f"{observed}\nDerniers journaux :\n{logs_tail(container)}",
                   hint="l'application doit écouter sur 0.0.0.0 (pas 127.0.0.1) et sur le port "
                        f"{port} ; testez avec `docker run -p 127.0.0.1:{port}:{port} IMAGE` puis "
                        f"`curl localhost:{port}{path}`.") from None
    return url


def last_try(url: str) -> str:
    """`` (dernier essai : …)``: one more request, for the evidence of a failed wait."""
    try:
        return f" (dernier essai : HTTP {http_status(url)})"
    except OSError as exc:
        return f" (dernier essai : {exc})"


def http_ok(container, port: int, path: str) -> bool:
    try:
        return http_status(f"http://{engine_host()}:{host_port(container, port)}{path}") == 200
    except (OSError, Fail):
        return False
