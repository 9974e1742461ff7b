"""Podman, for the lab that runs Kubernetes manifests (lab 13): where its API is, a sandbox on
it, and ``kube play`` / ``kube down`` through its REST API.

Podman serves two APIs on one socket: Docker's, so the docker SDK and the :class:`Sandbox`
(labels, timeouts, builds, exec, sweep) work unchanged, and its own ``/libpod`` API, which alone
has ``play/kube``. The grader never runs the ``podman`` binary for a step: like Docker's, the
engine may live on another machine (a Podman machine on macOS and Windows), and the REST API
carries the manifest there. Where the API is (first that answers as Podman):

1. ``PODMAN_HOST`` (this course's variable), then ``CONTAINER_HOST`` (Podman's own);
2. ``DOCKER_HOST``, when the engine behind it is Podman (Podman Desktop's Docker socket);
3. what the ``podman`` command says: ``podman machine inspect`` (macOS, Windows) or ``podman info``
   (the socket of ``podman system service`` / ``podman.socket`` on Linux);
4. the usual sockets: ``$XDG_RUNTIME_DIR/podman/podman.sock``, ``/run/podman/podman.sock``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import docker
import docker.errors
import requests.exceptions

from autograder.core import GraderUnavailable
from autograder.engine.docker_api import JOB_LABEL, TIMEOUTS, DockerStepError
from autograder.engine.sandbox import BuildResult, Sandbox

log = logging.getLogger(__name__)

PODMAN_HOST_ENV = "PODMAN_HOST"
# The libpod API's path prefix: Podman 4 and 5 both serve it (the version is the API's, not the engine's).
LIBPOD = "/v4.0.0/libpod"
PING_TIMEOUT_S = 5
CLI_TIMEOUT_S = 15


@dataclass(frozen=True)
class PodmanEngine:
    url: str        # the API address (unix://…, tcp://…, ssh://…)
    version: str    # Podman's version, from its answer
    found: str      # how it was found, said to the student


def _as_url(value: str) -> str:
    value = value.strip()
    return value if "://" in value else f"unix://{value}"


def _cli(*args: str) -> str:
    """Standard output of ``podman ARGS`` ('' when the command is absent, fails or hangs)."""
    if shutil.which("podman") is None:
        return ""
    try:
        proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _from_cli() -> list[tuple[str, str]]:
    out = []
    machine = _cli("machine", "inspect", "--format", "{{.ConnectionInfo.PodmanSocket.Path}}")
    for line in machine.splitlines():
        if line.strip() and line.strip() != "<no value>":
            out.append((_as_url(line), "`podman machine inspect`"))
    info = _cli("info", "--format", "json")
    try:
        sock = (json.loads(info).get("host") or {}).get("remoteSocket") or {} if info else {}
    except ValueError:
        sock = {}
    if sock.get("path") and sock.get("exists"):
        out.append((_as_url(sock["path"]), "`podman info`"))
    return out


def candidates() -> list[tuple[str, str]]:
    """(API address, how it was found) in the order they are tried, without duplicates."""
    found: list[tuple[str, str]] = []
    for var in (PODMAN_HOST_ENV, "CONTAINER_HOST", "DOCKER_HOST"):
        if os.environ.get(var, "").strip():
            found.append((_as_url(os.environ[var]), f"la variable {var}"))
    found += _from_cli()
    runtime = os.environ.get("XDG_RUNTIME_DIR") or (f"/run/user/{os.getuid()}" if hasattr(os, "getuid") else "")
    for path in (f"{runtime}/podman/podman.sock" if runtime else "", "/run/podman/podman.sock"):
        if path and Path(path).exists():
            found.append((f"unix://{path}", f"le socket {path}"))
    seen: set[str] = set()
    return [(url, how) for url, how in found if not (url in seen or seen.add(url))]


def ping(url: str, timeout: float = PING_TIMEOUT_S) -> Optional[str]:
    """Podman's version when ``url`` is a Podman API that answers, else None (Docker answers 404)."""
    try:
        api = docker.APIClient(base_url=url, version="1.41", timeout=int(timeout))
    except (docker.errors.DockerException, OSError, ValueError):
        return None
    try:
        response = api.get(api.base_url + LIBPOD + "/_ping", timeout=timeout)
        return response.headers.get("Libpod-Api-Version") or None if response.ok else None
    except (requests.exceptions.RequestException, OSError, *TIMEOUTS):
        return None
    finally:
        api.close()


def find_podman() -> Optional[PodmanEngine]:
    """The first Podman API that answers (see the module's docstring), or None."""
    for url, how in candidates():
        version = ping(url)
        if version:
            return PodmanEngine(url, version, how)
    return None


def libpod_error(response: requests.Response) -> str:
    """Podman's own words for a failed libpod call."""
    try:
        body = response.json()
        return str(body.get("cause") and body.get("message") or body.get("message") or body)[:2000]
    except ValueError:
        return response.text.strip()[:2000] or f"HTTP {response.status_code}"


@dataclass
class PodmanSandbox(Sandbox):
    """A :class:`Sandbox` on Podman's API: what kube play creates carries the job label (the grader
    writes it into every manifest) or is remembered by name; ``close`` removes the pods, then the
    secrets and volumes they used, then whatever else is labelled (the sandbox's sweep)."""

    engine: Optional[PodmanEngine] = None

    def __post_init__(self) -> None:
        if self.engine is not None:
            self.base_url = self.engine.url
            if self.client is None:
                self.client = podman_client(self.engine)
        super().__post_init__()

    def build(self, context: Path, tag_suffix: str, dockerfile="Dockerfile", timeout: float = 600,
              secrets=None) -> BuildResult:
        """Always through the API of this engine (never the docker CLI: it points elsewhere)."""
        self.check_stopped()
        with self.writing_unseen():
            return self._build_classic(context, tag_suffix, str(dockerfile), timeout, secrets)

    # -- libpod ---------------------------------------------------------------------------------
    def _libpod(self, method: str, path: str, timeout: float, **kwargs) -> requests.Response:
        self.check_stopped()
        api = self.client.api
        try:
            return api.request(method, api.base_url + LIBPOD + path, timeout=timeout, **kwargs)
        except TIMEOUTS as exc:
            self.raise_if_gone(exc)
            raise DockerStepError(f"Podman n'a pas répondu en {int(timeout)} s ({method} {path})",
                                  timed_out=True) from exc
        except requests.exceptions.RequestException as exc:
            self.raise_if_gone(exc)
            raise DockerStepError(f"Podman : {exc}") from exc

    def play(self, manifest: str, *, network: str, publish: list[str], timeout: float) -> dict:
        """``podman kube play`` of ``manifest`` (YAML) on ``network``, ports published as
        ``publish`` (``--publish`` syntax); Podman's report. :class:`DockerStepError` when it refuses."""
        params = {"network": [network], "start": "true"}
        if publish:
            params["publishPorts"] = publish
        response = self._libpod("POST", "/play/kube", timeout, data=manifest.encode(), params=params,
                                headers={"Content-Type": "application/x-yaml"})
        report = response.json() if response.ok else {}
        if not response.ok:
            raise DockerStepError(f"`podman kube play` refuse les manifestes : {libpod_error(response)}")
        errors = [e for pod in report.get("Pods") or [] for e in pod.get("ContainerErrors") or []]
        if errors:
            raise DockerStepError("`podman kube play` : " + "; ".join(map(str, errors))[:2000])
        return report

    def down(self, manifest: str, *, timeout: float) -> None:
        """``podman kube down`` (volumes kept, as without ``--force``)."""
        response = self._libpod("DELETE", "/play/kube", timeout, data=manifest.encode(),
                                headers={"Content-Type": "application/x-yaml"})
        if not response.ok:
            raise DockerStepError(f"`podman kube down` a échoué : {libpod_error(response)}")

    def pods(self) -> list[dict]:
        """This job's pods (``podman pod ps``), with their containers."""
        flt = json.dumps({"label": [f"{JOB_LABEL}={self.job}"]})
        response = self._libpod("GET", "/pods/json", 30, params={"filters": flt})
        return response.json() or [] if response.ok else []

    def close(self) -> None:
        """Pods, secrets and volumes of kube play first (:func:`remove_kube_objects`), then the
        sandbox's own sweep. Never raises."""
        stopped, self.stopped = self.stopped, None  # a disk-guard stop must not block the cleanup
        remove_kube_objects(self.client, self.job)
        self.stopped = stopped
        super().close()


# A job's prefix in the names kube play gives (autograder.engine.kube_policy.rewrite).
JOB_PREFIX = re.compile(r"^(ag-[0-9a-f]{8})-")


def _call(client: docker.DockerClient, method: str, path: str, wait: float = 60, **params):
    """A libpod call for the cleanup: the JSON of a GET, True when a change succeeded, None on error."""
    api = client.api
    try:
        response = api.request(method, api.base_url + LIBPOD + path, timeout=wait, params=params)
        if not response.ok:
            return None
        return response.json() if method == "GET" else True
    except (requests.exceptions.RequestException, ValueError, *TIMEOUTS) as exc:
        log.debug("podman cleanup %s %s: %s", method, path, exc)
        return None


def remove_kube_objects(client: docker.DockerClient, job: Optional[str] = None,
                        keep: frozenset = frozenset()) -> dict[str, int]:
    """Remove what kube play made for ``job`` (or for every grading but those in ``keep``): pods
    carrying the job label (their infra containers carry none), then the secrets and volumes named
    with a job's prefix (a secret's volume carries no label). Never raises; counts by kind."""
    def wanted(owner: Optional[str]) -> bool:
        return owner == job if job else bool(owner) and owner not in keep

    def prefix(name: str) -> Optional[str]:
        m = JOB_PREFIX.match(name)
        return m.group(1) if m else None

    removed = {"pods": 0, "secrets": 0, "volumes": 0}
    for pod in _call(client, "GET", "/pods/json", filters=json.dumps({"label": [JOB_LABEL]})) or []:
        if wanted((pod.get("Labels") or {}).get(JOB_LABEL)) and \
                _call(client, "DELETE", f"/pods/{pod['Id']}", force="true", timeout="0"):
            removed["pods"] += 1
    for secret in _call(client, "GET", "/secrets/json") or []:
        if wanted(prefix(str((secret.get("Spec") or {}).get("Name") or ""))) and \
                _call(client, "DELETE", f"/secrets/{secret.get('ID')}"):
            removed["secrets"] += 1
    for volume in _call(client, "GET", "/volumes/json") or []:
        if wanted(prefix(str(volume.get("Name") or ""))) and \
                _call(client, "DELETE", f"/volumes/{volume['Name']}", force="true"):
            removed["volumes"] += 1
    return removed


def podman_client(engine: PodmanEngine) -> docker.DockerClient:
    return docker.DockerClient(base_url=engine.url, version="auto", timeout=60)


def sandbox_factory(engine: Optional[PodmanEngine]):
    """What the runner uses to make a lab's sandbox: on Podman when one was found, else the usual
    one (the lab's runtime checks then say they cannot run here). With neither, the grader cannot
    run: the message names both."""
    if engine is not None:
        return lambda: PodmanSandbox(engine=engine)

    def docker_instead() -> Sandbox:
        try:
            return Sandbox()
        except GraderUnavailable as exc:
            raise GraderUnavailable(
                "Ni Podman ni Docker ne répondent. Ce TP se lance avec Podman : démarrez-le (`podman machine "
                "start`, ou `systemctl --user start podman.socket` sous Linux) ou indiquez son API dans "
                f"PODMAN_HOST, puis relancez. Détail Docker : {exc.fr}",
                f"Neither Podman nor Docker is reachable (set PODMAN_HOST or start Podman). {exc.en}") from None
    return docker_instead
