"""The engine's client and its errors: a Docker client with timeouts, the engine's host, port bindings,
job ids, errors in French, and what carries a job label (listed, swept)."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Optional, Union

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from autograder.core import GraderUnavailable
from autograder.engine.policy import DEFAULT_CPUS, DEFAULT_MEMORY, DEFAULT_PIDS, LOGGING

log = logging.getLogger(__name__)


JOB_LABEL = "org.4data.autograder.job"
# Limits imposed on every container the grader starts (PrairieLearn-like).
MEM_LIMIT = DEFAULT_MEMORY
NANO_CPUS = int(DEFAULT_CPUS * 1e9)
PIDS_LIMIT = DEFAULT_PIDS
LOG_CONFIG = {"type": LOGGING["driver"], "config": dict(LOGGING["options"])}
# Output the grader keeps from one command or build (a flood is cut, never buffered whole).
OUTPUT_LIMIT = 256 * 1024


API_TIMEOUT_S = 60
# A socket read that gave up: requests wraps urllib3's error, except while streaming.
TIMEOUTS = (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError,
            urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)


ENGINE_HOST_ENV = "AUTOGRADER_ENGINE_HOST"


def engine_host() -> str:
    """The address where the grader reaches the ports the engine publishes.

    ``127.0.0.1`` by default: the engine's own host, or Docker Desktop, which forwards published
    ports to the loopback of the machine it runs on. A grader that shares no network namespace
    with the engine (in a container, reaching the engine over TCP) names the engine host's
    address in ``AUTOGRADER_ENGINE_HOST``; ports are then published on it too.
    """
    return os.environ.get(ENGINE_HOST_ENV, "").strip() or "127.0.0.1"


def port_bindings(ports: list[int]) -> dict:
    """docker SDK ``ports`` for ``ports``: free host ports on 127.0.0.1 (where the daemon itself
    reaches them, e.g. a registry it pushes to) and on :func:`engine_host` when it differs."""
    hosts = ["127.0.0.1"] + ([engine_host()] if engine_host() != "127.0.0.1" else [])
    return {f"{p}/tcp": [(h, None) for h in hosts] for p in ports}


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


class DockerGone(Exception):
    """The Docker daemon stopped answering during a grading (not a slow step: a lost one)."""


def daemon_alive(client: docker.DockerClient, base_url: Optional[str] = None) -> bool:
    """Does the daemon behind ``client`` (at ``base_url``, else where the environment points)
    answer a ping within a few seconds?"""
    try:
        api = _api(5, client.api.api_version, base_url)
        try:
            return bool(api.ping())
        finally:
            api.close()
    except Exception:  # noqa: BLE001 - any failure means: not reachable now
        return False


class DockerStepError(Exception):
    """A Docker step failed or ran past its timeout; ``output`` holds its log tail."""

    def __init__(self, message: str, output: str = "", timed_out: bool = False):
        super().__init__(message)
        self.output = output
        self.timed_out = timed_out


def sweep(client: docker.DockerClient, job: Optional[str] = None,
          keep: Union[set, frozenset] = frozenset()) -> dict[str, int]:
    """Remove containers, networks, volumes and images carrying the job label.

    With ``job=None`` everything any grading left behind is removed, except the objects of the
    jobs in ``keep`` (gradings in flight: :func:`autograder.engine.lease.live_jobs`). Build cache
    (untagged parent layers) is kept so the next grading rebuilds quickly.
    """
    flt = {"label": f"{JOB_LABEL}={job}" if job else JOB_LABEL}
    removed = {"containers": 0, "networks": 0, "volumes": 0, "images": 0}

    def mine(labels: Optional[dict]) -> bool:
        return not keep or (labels or {}).get(JOB_LABEL) not in keep

    for c in _safe(lambda: client.containers.list(all=True, filters=flt)):
        if mine(c.labels) and _safe(lambda: c.remove(force=True, v=True), default=False) is not False:
            removed["containers"] += 1
    for n in _safe(lambda: client.networks.list(filters=flt)):
        if mine(n.attrs.get("Labels")) and _safe(n.remove, default=False) is not False:
            removed["networks"] += 1
    for v in _safe(lambda: client.volumes.list(filters=flt)):
        if mine(v.attrs.get("Labels")) and _safe(lambda: v.remove(force=True), default=False) is not False:
            removed["volumes"] += 1
    # Children first: the legacy builder applies build labels as one LABEL step per label, so a
    # chain of intermediate images may carry the job label; a parent goes once its children have.
    for _ in range(100):
        images = _safe(lambda: client.images.list(all=True, filters=flt))
        parents = {i.attrs.get("Parent") for i in images}
        progress = False
        for i in (i for i in images if i.id not in parents and mine(i.labels)):
            if _safe(lambda: client.images.remove(i.id, force=True, noprune=True), default=False) is not False:
                removed["images"] += 1
                progress = True
        if not progress:
            break
    return removed


def labelled_jobs(client: docker.DockerClient) -> set[str]:
    """The job of every object carrying the grader's label (the gradings that left something)."""
    flt = {"label": JOB_LABEL}
    found: set[str] = set()
    for labels in ([c.labels for c in _safe(lambda: client.containers.list(all=True, filters=flt))]
                   + [n.attrs.get("Labels") or {} for n in _safe(lambda: client.networks.list(filters=flt))]
                   + [v.attrs.get("Labels") or {} for v in _safe(lambda: client.volumes.list(filters=flt))]
                   + [i.labels for i in _safe(lambda: client.images.list(all=True, filters=flt))]):
        if (labels or {}).get(JOB_LABEL):
            found.add(labels[JOB_LABEL])
    return found


def leftovers(client: docker.DockerClient, job: Optional[str] = None) -> dict[str, list[str]]:
    """Names of objects still carrying the grader's label (``job``'s only, when given)."""
    flt = {"label": f"{JOB_LABEL}={job}" if job else JOB_LABEL}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=flt)],
        "networks": [n.name for n in client.networks.list(filters=flt)],
        "volumes": [v.name for v in client.volumes.list(filters=flt)],
        "images": [t for i in client.images.list(all=True, filters=flt) for t in (i.tags or [i.short_id])],
    }


def _api(timeout: float, version: str, base_url: Optional[str] = None) -> docker.APIClient:
    """A low-level client whose socket reads give up after ``timeout`` seconds (``version``
    given, so that making it asks the daemon nothing), on the engine at ``base_url`` (else where
    the environment points)."""
    return docker.APIClient(timeout=int(timeout), version=version, **api_kwargs(base_url))


def api_kwargs(base_url: Optional[str] = None) -> dict:
    """Where a new low-level client connects: ``base_url`` when given (an engine other than the
    environment's, e.g. Podman for lab 13), else ``DOCKER_HOST`` and its TLS settings."""
    return {"base_url": base_url} if base_url else docker.utils.kwargs_from_env()


def _safe(fn, default=()):
    try:
        return fn()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        log.debug("cleanup step failed: %s", exc)
        return default
