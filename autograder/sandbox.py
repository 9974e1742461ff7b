"""Everything the grader does with Docker goes through a :class:`Sandbox`.

A sandbox belongs to one grading job. It labels what it creates with the job
label, puts a timeout on every Docker call, imposes resource limits on every
container it starts, and removes everything carrying its label when closed
(also after a failure, a timeout or Ctrl-C: callers use it as a context
manager).
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from .core import GraderUnavailable

log = logging.getLogger(__name__)

JOB_LABEL = "org.4data.autograder.job"
# Limits imposed on every container the grader starts (PrairieLearn-like).
MEM_LIMIT = "1g"
NANO_CPUS = 1_000_000_000
PIDS_LIMIT = 512
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "1m", "max-file": "1"}}

API_TIMEOUT_S = 60
# A socket read that gave up: requests wraps urllib3's error, except while streaming.
TIMEOUTS = (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError,
            urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)
ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
BUILD_TIMEOUT_S = 600


def new_job_id() -> str:
    return "ag-" + secrets.token_hex(4)


def docker_client(timeout: int = API_TIMEOUT_S) -> docker.DockerClient:
    """A docker SDK client, or :class:`GraderUnavailable` when no daemon answers."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise GraderUnavailable(
            "Docker ne répond pas : démarrez Docker (Docker Desktop, ou `sudo systemctl start docker`) "
            f"puis relancez. Détail : {_short(exc)}",
            f"Docker is not reachable: start the Docker engine and try again. Detail: {_short(exc)}",
        ) from None


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _explain(exc: "docker.errors.APIError") -> str:
    """The daemon's own words, without the request URL."""
    return _short(exc.explanation or exc, 600) if isinstance(exc.explanation, str) else _short(exc, 600)


class DockerStepError(Exception):
    """A Docker step failed or ran past its timeout; ``output`` holds its log tail."""

    def __init__(self, message: str, output: str = "", timed_out: bool = False):
        super().__init__(message)
        self.output = output
        self.timed_out = timed_out


@dataclass
class BuildResult:
    tag: str
    image_id: str
    log: list[str]

    def cached_steps(self) -> list[tuple[str, bool]]:
        """``(instruction, served_from_cache)`` for each step of a legacy-builder log."""
        steps: list[tuple[str, bool]] = []
        current: Optional[str] = None
        cached = False
        for line in self.log:
            m = re.match(r"^Step \d+/\d+ : (.*)$", line.strip())
            if m:
                if current is not None:
                    steps.append((current, cached))
                current, cached = m.group(1), False
            elif current is not None and "Using cache" in line:
                cached = True
        if current is not None:
            steps.append((current, cached))
        return steps


@dataclass
class Sandbox:
    job: str = field(default_factory=new_job_id)
    client: docker.DockerClient = field(default=None)  # type: ignore[assignment]
    compose_projects: list = field(default_factory=list)
    # Anonymous volumes (an image's VOLUME) carry no label: remembered before every teardown
    # or re-creation, since Compose forgets them after a re-creation or a plain `down`.
    anonymous_volumes: set = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = docker_client()

    # -- context management -------------------------------------------------
    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def labels(self) -> dict[str, str]:
        return {JOB_LABEL: self.job}

    def name(self, suffix: str) -> str:
        return f"{self.job}-{suffix}".lower()

    # -- images ---------------------------------------------------------------
    def build(self, context: Path, tag_suffix: str, dockerfile: str = "Dockerfile",
              timeout: float = BUILD_TIMEOUT_S) -> BuildResult:
        """Build ``context`` with the legacy builder (its log says which steps were cached)."""
        tag = f"{self.job}-{tag_suffix}:grading"
        api = _api(timeout)
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        image_id = None
        try:
            stream = api.build(path=str(context), dockerfile=dockerfile, tag=tag, labels=self.labels,
                               rm=True, forcerm=True, pull=False, decode=True, timeout=int(timeout),
                               container_limits={"memory": 2 * 1024**3, "memswap": 2 * 1024**3})
            for chunk in stream:
                if "stream" in chunk:
                    lines.extend(chunk["stream"].rstrip("\n").splitlines())
                if "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                if "error" in chunk:
                    lines.append(chunk["error"].strip())
                    raise DockerStepError(chunk["error"].strip(), "\n".join(lines[-25:]))
                if time.monotonic() > deadline:
                    raise DockerStepError(f"build trop long (> {int(timeout)} s)", "\n".join(lines[-25:]),
                                          timed_out=True)
        except TIMEOUTS as exc:
            raise DockerStepError(f"build trop long ou interrompu (> {int(timeout)} s)",
                                  "\n".join(lines[-25:]), timed_out=True) from exc
        except docker.errors.APIError as exc:
            raise DockerStepError(_explain(exc), "\n".join(lines[-25:])) from exc
        finally:
            api.close()
        if image_id is None:
            image_id = self.client.images.get(tag).id
        return BuildResult(tag=tag, image_id=image_id, log=lines)

    # -- containers -------------------------------------------------------------
    def run(self, image: str, *, suffix: str, ports: Optional[list[int]] = None,
            **kwargs) -> "docker.models.containers.Container":
        """Start a detached, labelled, resource-limited container; ports go to 127.0.0.1."""
        params = dict(
            detach=True,
            name=self.name(suffix),
            labels=self.labels,
            mem_limit=MEM_LIMIT,
            memswap_limit=MEM_LIMIT,
            nano_cpus=NANO_CPUS,
            pids_limit=PIDS_LIMIT,
            ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)],
            log_config=docker.types.LogConfig(**LOG_CONFIG),
            ports={f"{p}/tcp": ("127.0.0.1", None) for p in (ports or [])},
        )
        params.update(kwargs)
        try:
            return self.client.containers.run(image, **params)
        except docker.errors.APIError as exc:
            raise DockerStepError(_explain(exc)) from exc

    def exec(self, container, cmd: list[str] | str, timeout: float = 30, user: str = "",
             workdir: Optional[str] = None) -> tuple[int, str]:
        """Run ``cmd`` in a running container; ``(exit code, stdout+stderr)``."""
        api = _api(timeout + 5)
        try:
            exec_id = api.exec_create(container.id, cmd, user=user, workdir=workdir)["Id"]
            output = api.exec_start(exec_id).decode("utf-8", "replace")
            code = api.exec_inspect(exec_id)["ExitCode"]
            return (code if code is not None else -1), output
        except TIMEOUTS as exc:
            raise DockerStepError(f"commande trop longue (> {int(timeout)} s) : {cmd}",
                                  timed_out=True) from exc
        except docker.errors.APIError as exc:
            raise DockerStepError(_explain(exc)) from exc
        finally:
            api.close()

    def image_files(self, image: str) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
        """Every file of ``image`` (from ``docker create`` + export: no student code runs)."""
        container = self.client.containers.create(image, name=self.name("files-" + secrets.token_hex(2)),
                                                  labels=self.labels, entrypoint=["/nonexistent"])
        try:
            stream = _IterStream(container.export(chunk_size=1 << 20))
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    yield member, tar
        finally:
            container.remove(force=True)

    # -- cleanup ------------------------------------------------------------------
    def remember_volumes(self, containers) -> None:
        for c in containers:
            for m in c.attrs.get("Mounts", []):
                if m.get("Type") == "volume" and ANONYMOUS.match(m.get("Name", "")):
                    self.anonymous_volumes.add(m["Name"])

    def close(self) -> None:
        """Remove everything this job created. Never raises."""
        for project in list(self.compose_projects):
            try:
                project.down(volumes=True, rmi=True, timeout_s=0)
            except Exception as exc:  # noqa: BLE001 - cleanup must go on
                log.warning("compose down failed for %s: %s", project.name, exc)
        self.remember_volumes(_safe(lambda: self.client.containers.list(
            all=True, filters={"label": f"{JOB_LABEL}={self.job}"})))
        sweep(self.client, self.job)
        for name in self.anonymous_volumes:
            _safe(lambda: self.client.volumes.get(name).remove(force=True), default=False)


def sweep(client: docker.DockerClient, job: Optional[str] = None) -> dict[str, int]:
    """Remove containers, networks, volumes and images carrying the job label.

    With ``job=None`` everything any grading left behind is removed. Build cache
    (untagged parent layers) is kept so the next grading rebuilds quickly.
    """
    flt = {"label": f"{JOB_LABEL}={job}" if job else JOB_LABEL}
    removed = {"containers": 0, "networks": 0, "volumes": 0, "images": 0}
    for c in _safe(lambda: client.containers.list(all=True, filters=flt)):
        if _safe(lambda: c.remove(force=True, v=True), default=False) is not False:
            removed["containers"] += 1
    for n in _safe(lambda: client.networks.list(filters=flt)):
        if _safe(n.remove, default=False) is not False:
            removed["networks"] += 1
    for v in _safe(lambda: client.volumes.list(filters=flt)):
        if _safe(lambda: v.remove(force=True), default=False) is not False:
            removed["volumes"] += 1
    for i in _safe(lambda: client.images.list(all=True, filters=flt)):
        if _safe(lambda: client.images.remove(i.id, force=True, noprune=True), default=False) is not False:
            removed["images"] += 1
    return removed


def leftovers(client: docker.DockerClient) -> dict[str, list[str]]:
    """Names of objects still carrying the grader's label (used by the suite's last test)."""
    flt = {"label": JOB_LABEL}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=flt)],
        "networks": [n.name for n in client.networks.list(filters=flt)],
        "volumes": [v.name for v in client.volumes.list(filters=flt)],
        "images": [t for i in client.images.list(all=True, filters=flt) for t in (i.tags or [i.short_id])],
    }


def _api(timeout: float) -> docker.APIClient:
    """A low-level client whose socket reads give up after ``timeout`` seconds."""
    return docker.APIClient(timeout=int(timeout), **docker.utils.kwargs_from_env())


def _safe(fn, default=()):
    try:
        return fn()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        log.debug("cleanup step failed: %s", exc)
        return default


class _IterStream(io.RawIOBase):
    """File-like view over an iterator of bytes (for streaming tar reads)."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def run_cli(args: list[str], *, timeout: float, cwd: Optional[Path] = None,
            env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run a docker CLI command with a timeout; raise :class:`DockerStepError` on timeout."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    full_env.update(env or {})
    try:
        return subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or "") + (exc.stderr or "") if isinstance(exc.stdout, str) else ""
        raise DockerStepError(f"`{' '.join(args[:4])} …` trop long (> {int(timeout)} s)", out,
                              timed_out=True) from exc
    except FileNotFoundError as exc:
        raise GraderUnavailable(
            "La commande `docker` est introuvable : installez Docker Engine avec le plugin Compose v2.",
            "The `docker` command was not found: install Docker Engine with the Compose v2 plugin.",
        ) from exc
