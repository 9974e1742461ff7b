"""The docker CLI (Compose, BuildKit builds) run with a timeout, an output cap and an environment of
its own, and told to observers (the benchmark's recorder)."""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from autograder.core import GraderUnavailable
from autograder.engine.docker_api import OUTPUT_LIMIT, DockerStepError

if TYPE_CHECKING:  # pragma: no cover - the sandbox runs the CLI through run_cli
    from autograder.engine.sandbox import Sandbox


# The environment the docker CLI (and so Compose interpolation) sees: nothing of the grader's own.
CLI_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
# Told about every command run_cli runs: ``observer("start", event)`` before it, ``observer("end",
# event)`` after it, ``event`` a dict (args, cwd, env, then returncode). Empty in normal use;
# autograder.tools.bench records a grading's Docker operations with it.
CLI_OBSERVERS: list = []


def run_cli(args: list[str], *, timeout: float, cwd: Optional[Path] = None,
            env: Optional[dict[str, str]] = None, sandbox: Optional[Sandbox] = None) -> subprocess.CompletedProcess:
    """Run a docker CLI command with a timeout; raise :class:`DockerStepError` on timeout.

    The command sees a minimal environment (PATH, HOME, locale and the ``DOCKER_*``
    connection settings): Compose interpolates ``${VAR}`` from it, so a submission
    can never read the grader's own variables. Its output is cut at
    :data:`OUTPUT_LIMIT` characters per stream. With ``sandbox``, the disk guard can
    stop the command.
    """
    full_env = {k: v for k, v in os.environ.items()
                if k in CLI_ENV_KEYS or k.startswith(("LC_", "DOCKER_", "XDG_"))}
    full_env.update(env or {})
    event = {"args": list(args), "cwd": str(cwd) if cwd else None, "env": dict(env or {}), "returncode": None}
    for observer in CLI_OBSERVERS:
        observer("start", event)
    try:
        proc = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    except FileNotFoundError as exc:
        raise GraderUnavailable(
            "La commande `docker` est introuvable : installez Docker Engine avec le plugin Compose v2.",
            "The `docker` command was not found: install Docker Engine with the Compose v2 plugin.",
        ) from exc
    guard = sandbox.abortable(proc.kill) if sandbox is not None else _nothing()
    unseen = sandbox.writing_unseen() if sandbox is not None and writes_unlabelled(args) else _nothing()
    try:
        with guard, unseen:
            out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill(proc)
        out, err = proc.communicate()
        raise DockerStepError(f"`{' '.join(args[:4])} …` trop long (> {int(timeout)} s)",
                              _clip((out or "") + (err or "")), timed_out=True) from exc
    except BaseException:
        _kill(proc)  # Ctrl-C: no docker CLI outlives the grader
        proc.communicate()
        raise
    event["returncode"] = proc.returncode
    for observer in CLI_OBSERVERS:
        observer("end", event)
    if sandbox is not None:
        sandbox.check_stopped()
    return subprocess.CompletedProcess(args, proc.returncode, _clip(out), _clip(err))


# Docker CLI words whose disk writes may carry no label of the job (build cache, pulled or loaded
# layers): the disk guard charges the engine's whole disk drop to the job while they run.
UNLABELLED_WRITERS = {"build", "up", "pull", "buildx", "bake", "load", "import", "commit", "create", "run"}


def writes_unlabelled(args: list[str]) -> bool:
    return any(a in UNLABELLED_WRITERS for a in args[1:])


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _clip(text: Optional[str]) -> str:
    text = text or ""
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]


@contextmanager
def _nothing() -> Iterator[None]:
    yield
