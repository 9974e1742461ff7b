"""Everything the grader does with Docker goes through a :class:`Sandbox`.

A sandbox belongs to one grading job. It labels what it creates with the job
label, puts a timeout on every Docker call, imposes resource limits on every
container it starts, and removes everything carrying its label when closed
(also after a failure, a timeout or Ctrl-C: callers use it as a context
manager).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Union

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from autograder.engine import builder
from autograder.engine.containers import SandboxContainer
from autograder.engine.lease import Lease
from autograder.engine.imagefacts import ChunkReader
from autograder.core import GraderUnavailable
from autograder.engine.policy import DEFAULT_CPUS, DEFAULT_MEMORY, DEFAULT_PIDS, LOGGING, NO_MASQUERADE

log = logging.getLogger(__name__)

JOB_LABEL = "org.4data.autograder.job"
# Limits imposed on every container the grader starts (PrairieLearn-like).
MEM_LIMIT = DEFAULT_MEMORY
NANO_CPUS = int(DEFAULT_CPUS * 1e9)
PIDS_LIMIT = DEFAULT_PIDS
LOG_CONFIG = {"type": LOGGING["driver"], "config": dict(LOGGING["options"])}

API_TIMEOUT_S = 60
# A socket read that gave up: requests wraps urllib3's error, except while streaming.
TIMEOUTS = (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError,
            urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)
ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
BUILD_TIMEOUT_S = 600
# What one grading may add to the disk of the Docker host (image layers, container writes)
# before the grader stops it; AUTOGRADER_DISK_LIMIT_MB overrides it.
DISK_LIMIT_MB = 4096
# Output the grader keeps from one command or build (a flood is cut, never buffered whole).
OUTPUT_LIMIT = 256 * 1024
BUILD_LOG_TAIL = 200
# The environment the docker CLI (and so Compose interpolation) sees: nothing of the grader's own.
CLI_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
# Told about every command run_cli runs: ``observer("start", event)`` before it, ``observer("end",
# event)`` after it, ``event`` a dict (args, cwd, env, then returncode). Empty in normal use;
# autograder.tools.bench records a grading's Docker operations with it.
CLI_OBSERVERS: list = []
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


def daemon_alive(client: docker.DockerClient) -> bool:
    """Does the daemon behind ``client`` answer a ping within a few seconds?"""
    try:
        api = _api(5, client.api.api_version)
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


@dataclass
class BuildResult:
    tag: str
    image_id: str
    log: list[str]  # the last lines of the build's output
    step_lines: Optional[list[str]] = None  # every "Step n/m" and "Using cache" line, in order
    builder: str = "classic"  # autograder.engine.builder kinds: "buildx", "buildkit" or "classic"
    notes: list[str] = field(default_factory=list)  # what the grader changed to build (French)

    def cached_steps(self) -> list[tuple[str, bool]]:
        """``(instruction, served_from_cache)`` for each Dockerfile step of the build, in order:
        BuildKit's ``#N CACHED`` lines, or the classic builder's « Using cache »."""
        if self.builder != "classic":
            return builder.parse_plain(self.step_lines or self.log)
        steps: list[tuple[str, bool]] = []
        current: Optional[str] = None
        cached = False
        for line in self.step_lines if self.step_lines is not None else self.log:
            m = CLASSIC_STEP.match(line.strip())
            if m:
                if current is not None:
                    steps.append((current, cached))
                current, cached = m.group(1), False
            elif current is not None and "Using cache" in line:
                cached = True
        if current is not None:
            steps.append((current, cached))
        return steps


# A step of the classic builder's log: Docker's "Step 3/5 : RUN …", Podman's Buildah "STEP 3/5: RUN …",
# prefixed with the stage in a multi-stage build ("[1/2] STEP 3/5: RUN …").
CLASSIC_STEP = re.compile(r"^(?:\[\d+/\d+\] )?(?:Step|STEP) \d+/\d+ ?: (.*)$")


class _BuildClient(docker.APIClient):
    """A low-level client that keeps the build's HTTP response, so another thread can cut it, and
    adds ``extra_params`` to ``POST /build`` (parameters the SDK does not know)."""

    response = None
    extra_params: dict = {}

    def _stream_helper(self, response, decode=False):
        self.response = response
        return super()._stream_helper(response, decode)

    def _post(self, url, **kwargs):
        if self.extra_params and url.endswith("/build"):
            kwargs["params"] = {**(kwargs.get("params") or {}), **self.extra_params}
        return super()._post(url, **kwargs)


def _context_with_secrets(context: Path, dockerfile: str, files: dict[str, Path]) -> tuple[dict, dict]:
    """The build context as a tar that also carries the secret files, and the ``secrets`` parameter
    of Podman's ``POST /build`` (Buildah takes each file out of the context before the build, so it
    never reaches a layer). Docker's classic builder has no secrets: it ignores the parameter."""
    from docker.api.build import process_dockerfile  # noqa: PLC0415 - the SDK's own helper

    ignore = context / ".dockerignore"
    exclude = [line.strip() for line in ignore.read_text(errors="replace").splitlines()
               if line.strip() and not line.strip().startswith("#")] if ignore.is_file() else None
    df = process_dockerfile(dockerfile, str(context))
    archive = docker.utils.tar(str(context), exclude=exclude, dockerfile=df)
    names = {}
    with tarfile.open(fileobj=archive, mode="a") as tar:
        for key, src in files.items():
            names[key] = f".autograder-secret-{secrets.token_hex(8)}"
            tar.add(str(src), arcname=names[key])
    archive.seek(0)
    params = {"secrets": json.dumps([f"id={key},src={name}" for key, name in names.items()])}
    return {"fileobj": archive, "custom_context": True, "dockerfile": df[0]}, params


def _cut(response) -> None:
    """Shut the socket under a streaming response: the reader wakes up, the daemon cancels."""
    try:
        raw = response.raw._fp.fp.raw
        sock = getattr(raw, "_sock", raw)
        sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):
        pass


@dataclass
class Sandbox:
    job: str = field(default_factory=new_job_id)
    client: docker.DockerClient = field(default=None)  # type: ignore[assignment]
    internet: bool = False  # containers reach outside the host only when the lab needs it
    compose_projects: list = field(default_factory=list)
    # Anonymous volumes (an image's VOLUME) carry no label: remembered before every teardown
    # or re-creation, since Compose forgets them after a re-creation or a plain `down`.
    anonymous_volumes: set = field(default_factory=set)
    # Set by the disk guard when this job wrote more than it may: every later step fails with it.
    stopped: Optional[str] = None
    _aborts: dict = field(default_factory=dict, repr=False)
    _guard: Optional["DiskGuard"] = field(default=None, repr=False)
    _network: Optional[str] = field(default=None, repr=False)
    _on_close: list = field(default_factory=list, repr=False)
    _lease: Optional[Lease] = field(default=None, repr=False)
    # Steps in flight whose disk writes no label tells (a build, a docker CLI command): the disk
    # guard charges the engine's whole disk drop to this job while one runs.
    _unseen: int = field(default=0, repr=False)
    _unseen_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = docker_client()
        # Held before anything of the job exists in Docker, released after its sweep: while it
        # lives, `autograder clean` (another process) leaves this job's objects alone.
        try:
            self._lease = Lease(self.job).acquire()
        except (OSError, ValueError) as exc:
            log.warning("no lease for job %s (a concurrent `clean` could remove its objects): %s", self.job, exc)
        self._guard = DiskGuard.start(self)

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

    def alive(self) -> bool:
        return daemon_alive(self.client)

    def raise_if_gone(self, exc: BaseException) -> None:
        """A lost connection is :class:`DockerGone` when the daemon no longer answers at all."""
        if not self.alive():
            raise DockerGone(f"Docker ne répond plus ({type(exc).__name__})") from exc

    def on_close(self, callback) -> None:
        """Run ``callback()`` when the sandbox closes, before its sweep (errors are logged)."""
        self._on_close.append(callback)

    def check_stopped(self) -> None:
        if self.stopped:
            raise DockerStepError(self.stopped)

    @contextmanager
    def abortable(self, abort) -> Iterator[None]:
        """Register ``abort`` (a callable) for the disk guard while a long step runs."""
        key = object()
        self._aborts[key] = abort
        try:
            yield
        finally:
            self._aborts.pop(key, None)

    @contextmanager
    def writing_unseen(self) -> Iterator[None]:
        """Mark a step whose disk writes cannot be told apart from other work on the engine."""
        with self._unseen_lock:
            self._unseen += 1
            first = self._unseen == 1
        if first and self._guard is not None:
            self._guard.window(opening=True)
        try:
            yield
        finally:
            with self._unseen_lock:
                self._unseen -= 1
                last = self._unseen == 0
            if last and self._guard is not None:
                self._guard.window(opening=False)

    def unseen_writes(self) -> bool:
        return self._unseen > 0

    def stop_everything(self, reason: str) -> None:
        """Called by the guard: cut running steps, kill this job's containers, refuse later steps."""
        self.stopped = reason
        for abort in list(self._aborts.values()):
            try:
                abort()
            except Exception:  # noqa: BLE001 - best effort from a watchdog thread
                pass
        for c in _safe(lambda: self.client.containers.list(filters={"label": f"{JOB_LABEL}={self.job}"})):
            _safe(c.kill, default=None)

    # -- images ---------------------------------------------------------------
    def build(self, context: Path, tag_suffix: str, dockerfile: Union[str, Path] = "Dockerfile",
              timeout: float = BUILD_TIMEOUT_S, secrets: Optional[dict[str, Path]] = None) -> BuildResult:
        """Build ``context`` into ``<job>-<tag_suffix>:grading``, labelled with the job: with
        BuildKit wherever the engine offers it (:mod:`autograder.engine.builder`), else with the classic
        builder. The log kept is bounded (the step lines and the last lines). ``dockerfile`` is
        relative to ``context`` or an absolute path (outside it, too); ``secrets`` (id -> file)
        serve ``RUN --mount=type=secret`` (BuildKit, or Podman's Buildah)."""
        self.check_stopped()
        chosen = builder.detect()
        with self.writing_unseen():
            if chosen.buildkit:
                return self._build_buildkit(chosen, context, tag_suffix, str(dockerfile), timeout, secrets)
            return self._build_classic(context, tag_suffix, str(dockerfile), timeout, secrets)

    def _build_buildkit(self, chosen: "builder.Builder", context: Path, tag_suffix: str, dockerfile: str,
                        timeout: float, secrets: Optional[dict[str, Path]] = None) -> BuildResult:
        tag = f"{self.job}-{tag_suffix}:grading"
        deadline = time.monotonic() + timeout
        notes: list[str] = []
        with tempfile.TemporaryDirectory(prefix="autograder-build-") as tmp:
            iidfile = Path(tmp) / "iid"
            path = context / dockerfile

            def attempt(df: Path) -> builder.CliBuild:
                args, env = builder.command(chosen, context, df, tag, self.labels, iidfile, secrets)
                return builder.run_build(args, env, max(1.0, deadline - time.monotonic()),
                                         keep=BUILD_LOG_TAIL, abortable=self.abortable, observers=CLI_OBSERVERS)

            try:
                result = attempt(path)
                if result.returncode != 0 and not result.timed_out and not self.stopped:
                    # `# syntax=docker/dockerfile:1` names a frontend image: offline, build with
                    # the engine's own frontend instead (outside the context: nothing is added to it).
                    text = path.read_text(errors="replace") if path.is_file() else ""
                    stripped = builder.frontend_unreachable(text, builder.error_lines(result.lines))
                    if stripped is not None:
                        alternate = Path(tmp) / "Dockerfile"
                        alternate.write_text(stripped)
                        notes.append("La directive `# syntax=` du Dockerfile désigne une image de frontend "
                                     "que le correcteur ne peut pas télécharger (hors ligne) : le build a "
                                     "utilisé le frontend Dockerfile intégré au moteur.")
                        result = attempt(alternate)
            except FileNotFoundError as exc:
                raise GraderUnavailable("La commande `docker` est introuvable : installez Docker avec BuildKit "
                                        "(plugin buildx).", "The `docker` command was not found.") from exc
            self.check_stopped()
            output = "\n".join(result.lines[-25:])
            if result.timed_out:
                raise DockerStepError(f"build trop long (> {int(timeout)} s)", output, timed_out=True)
            if result.returncode != 0:
                if not self.alive():
                    raise DockerGone("Docker ne répond plus pendant le build")
                message = builder.error_lines(result.lines)[:2000]
                if notes:  # built without the `# syntax=` frontend: say why newer syntax may fail
                    message += ("\n(Le frontend Dockerfile intégré au moteur du correcteur ne connaît pas "
                                "forcément la syntaxe la plus récente — `COPY --link`, `RUN <<EOF` — que la "
                                "directive `# syntax=` aurait apportée : sur votre machine, le build "
                                "télécharge ce frontend.)")
                raise DockerStepError(message, output)
            image_id = iidfile.read_text().strip() if iidfile.is_file() else ""
        if not image_id:
            image_id = self.client.images.get(tag).id
        return BuildResult(tag=tag, image_id=image_id, log=result.lines[-BUILD_LOG_TAIL:], step_lines=result.lines,
                           builder=chosen.kind, notes=notes)

    def _build_classic(self, context: Path, tag_suffix: str, dockerfile: str, timeout: float,
                       secrets: Optional[dict[str, Path]] = None) -> BuildResult:
        """The classic builder through the docker SDK (its log says « Using cache »)."""
        tag = f"{self.job}-{tag_suffix}:grading"
        api = _BuildClient(timeout=int(timeout), version=self.client.api.api_version,
                           **docker.utils.kwargs_from_env())
        where: dict = {"path": str(context), "dockerfile": dockerfile}
        if secrets:
            where, api.extra_params = _context_with_secrets(context, dockerfile, secrets)
        steps: list[str] = []
        tail: deque[str] = deque(maxlen=BUILD_LOG_TAIL)
        deadline = time.monotonic() + timeout
        image_id = None
        finished = False
        running: list[str] = []  # the legacy builder's intermediate containers ("Running in <id>")

        def keep(text: str) -> None:
            for line in text.rstrip("\n").splitlines():
                if CLASSIC_STEP.match(line.strip()) or "Using cache" in line:
                    steps.append(line[:500])
                m = re.match(r"^-*> Running in ([0-9a-f]{12,64})$", line.strip())
                if m:
                    running.append(m.group(1))
                tail.append(line[:500])

        def output() -> str:
            return "\n".join(list(tail)[-25:])

        try:
            with self.abortable(lambda: api.response is not None and _cut(api.response)):
                stream = api.build(**where, tag=tag, labels=self.labels,
                                   rm=True, forcerm=True, pull=False, decode=True, timeout=int(timeout),
                                   container_limits={"memory": 2 * 1024**3, "memswap": 2 * 1024**3})
                for chunk in stream:
                    if "stream" in chunk:
                        keep(chunk["stream"])
                    if "aux" in chunk and "ID" in chunk["aux"]:
                        image_id = chunk["aux"]["ID"]
                    if "error" in chunk:
                        keep(chunk["error"])
                        raise DockerStepError(chunk["error"].strip()[:2000], output())
                    if time.monotonic() > deadline:
                        raise DockerStepError(f"build trop long (> {int(timeout)} s)", output(), timed_out=True)
                    self.check_stopped()
                self.check_stopped()
            finished = True
        except TIMEOUTS as exc:
            self.check_stopped()
            self.raise_if_gone(exc)
            raise DockerStepError(f"build trop long ou interrompu (> {int(timeout)} s)",
                                  output(), timed_out=True) from exc
        except docker.errors.APIError as exc:
            raise DockerStepError(_explain(exc), output()) from exc
        finally:
            api.close()
            if "fileobj" in where:
                where["fileobj"].close()
            if not finished and running:
                # A cut build: the daemon cancels it, but removes its step container lazily.
                _safe(lambda: self.client.containers.get(running[-1]).remove(force=True), default=None)
        self.check_stopped()
        if image_id is None:
            image_id = self.client.images.get(tag).id
        return BuildResult(tag=tag, image_id=image_id, log=list(tail), step_lines=steps)

    # -- containers -------------------------------------------------------------
    def network(self) -> str:
        """This job's own bridge network (no route outside the host unless ``internet``)."""
        if self._network is None:
            name = self.name("net")
            self.client.networks.create(name, driver="bridge", labels=self.labels,
                                        options={} if self.internet else dict(NO_MASQUERADE))
            self._network = name
        return self._network

    def _params(self, suffix: str, ports: Optional[list[int]], kwargs: dict) -> dict:
        params = dict(
            detach=True,
            name=self.name(suffix),
            labels=self.labels,
            mem_limit=MEM_LIMIT,
            memswap_limit=MEM_LIMIT,
            nano_cpus=NANO_CPUS,
            pids_limit=PIDS_LIMIT,
            restart_policy={"Name": "no"},
            ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)],
            log_config=docker.types.LogConfig(**LOG_CONFIG),
            ports=port_bindings(ports or []),
        )
        params.update(kwargs)
        if "network" not in params and "network_mode" not in params:
            params["network"] = self.network()
        return params

    def run(self, image: str, *, suffix: str, ports: Optional[list[int]] = None,
            **kwargs) -> "docker.models.containers.Container":
        """Start a detached, labelled, resource-limited container on the job's network;
        ports go to free ports on 127.0.0.1 (and on :func:`engine_host` when it differs).

        Started by testcontainers (:meth:`container`); returns the docker SDK container."""
        self.check_stopped()
        try:
            return self.container(image, suffix=suffix, ports=ports, **kwargs).start().get_wrapped_container()
        except docker.errors.APIError as exc:
            raise DockerStepError(_explain(exc)) from exc

    def create(self, image: str, *, suffix: str, ports: Optional[list[int]] = None,
               **kwargs) -> "docker.models.containers.Container":
        """Like :meth:`run`, but the container is only created (files can be put into it first)."""
        self.check_stopped()
        try:
            return self.container(image, suffix=suffix, ports=ports, **kwargs).create_only()
        except docker.errors.APIError as exc:
            raise DockerStepError(_explain(exc)) from exc

    def container(self, image: str, *, suffix: str, ports: Optional[list[int]] = None,
                  **kwargs) -> SandboxContainer:
        """The testcontainers ``DockerContainer`` :meth:`run` starts: the job's label, limits,
        network, name and port bindings, over this sandbox's client (no Ryuk)."""
        return SandboxContainer(self.client, image, host=engine_host, **self._params(suffix, ports, kwargs))

    def exec(self, container, cmd: list[str] | str, timeout: float = 30, user: str = "",
             workdir: Optional[str] = None) -> tuple[int, str]:
        """Run ``cmd`` in a running container; ``(exit code, stdout+stderr)``.

        The output is read as a stream and cut at :data:`OUTPUT_LIMIT` bytes and at the
        deadline: a command that floods or never ends cannot hold the grader.
        """
        self.check_stopped()
        api = _api(timeout + 5, self.client.api.api_version)
        deadline = time.monotonic() + timeout
        try:
            exec_id = api.exec_create(container.id, cmd, user=user, workdir=workdir)["Id"]
            stream = api.exec_start(exec_id, stream=True)
            data = bytearray()
            try:
                with self.abortable(stream.close):
                    for chunk in stream:
                        if len(data) < OUTPUT_LIMIT:
                            data += chunk[: OUTPUT_LIMIT - len(data)]
                        if time.monotonic() > deadline:
                            raise DockerStepError(f"commande trop longue (> {int(timeout)} s) : {cmd}",
                                                  timed_out=True)
            finally:
                stream.close()
            code = api.exec_inspect(exec_id)["ExitCode"]
            return (code if code is not None else -1), data.decode("utf-8", "replace")
        except TIMEOUTS as exc:
            self.raise_if_gone(exc)
            raise DockerStepError(f"commande trop longue (> {int(timeout)} s) : {cmd}",
                                  timed_out=True) from exc
        except docker.errors.APIError as exc:
            raise DockerStepError(_explain(exc)) from exc
        finally:
            api.close()

    def image_files(self, image: str) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
        """Every file of ``image`` (from ``docker create`` + export: no student code runs)."""
        container = self.client.containers.create(image, name=self.name("files-" + secrets.token_hex(2)),
                                                  labels=self.labels, entrypoint=["/nonexistent"],
                                                  network_mode="none")
        try:
            stream = ChunkReader(container.export(chunk_size=1 << 20), what=f"l'image {image}")
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    yield member, tar
        finally:
            container.remove(force=True, v=True)

    # -- cleanup ------------------------------------------------------------------
    def remember_volumes(self, containers) -> None:
        for c in containers:
            for m in c.attrs.get("Mounts", []):
                if m.get("Type") == "volume" and ANONYMOUS.match(m.get("Name", "")):
                    self.anonymous_volumes.add(m["Name"])

    def close(self) -> None:
        """Remove everything this job created. Never raises; Ctrl-C and SIGTERM wait for it."""
        with signals_deferred():
            if self._guard is not None:
                self._guard.stop()
            for callback in reversed(self._on_close):
                try:
                    callback()
                except Exception as exc:  # noqa: BLE001 - cleanup must go on
                    log.debug("close callback failed: %s", exc)
            for project in list(self.compose_projects):
                try:
                    project.down(volumes=True, rmi=True, timeout_s=0)
                except Exception as exc:  # noqa: BLE001 - cleanup must go on
                    log.debug("compose down failed for %s: %s", project.name, exc)
            self.remember_volumes(_safe(lambda: self.client.containers.list(
                all=True, filters={"label": f"{JOB_LABEL}={self.job}"})))
            sweep(self.client, self.job)
            for name in self.anonymous_volumes:
                _safe(lambda: self.client.volumes.get(name).remove(force=True), default=False)
            if self._lease is not None:
                self._lease.release()


class DiskGuard(threading.Thread):
    """Watches the Docker host's disk while a job runs; past its limit, stops the job.

    Build layers and container writes land under the daemon's root directory; when what the job
    wrote there exceeds the limit (or the free space falls under a floor), the job's running
    build is cut and its containers are killed.

    The engine's disk is shared (other gradings of a ``--jobs N`` run, the chapter notebooks, an
    instructor's own builds), so a drop of its free space is not all the job's. What the job
    wrote is counted in two ways (:class:`DiskAccount`):

    * while a step whose writes carry no label runs (a build, a ``docker compose`` command:
      :meth:`Sandbox.writing_unseen`), every byte the free space drops by is charged to the job;
    * between such steps, the job's objects are known by its label: what its containers, their
      volumes and its images hold on the disk (:meth:`own_bytes`, read from the engine when the
      free space says the limit may be passed). A drop beyond that is someone else's.

    Before, the whole drop since the job started was charged to it: 400 MB written beside a
    lab-01 grading limited to 300 MB stopped it at ``01-exec-form`` and ``01-layer-cache``.

    Where the grader and the daemon share a machine (the daemon's root folder is here and the
    daemon's host name is ours), the free space is read with ``statvfs`` of that folder.
    Elsewhere (Docker Desktop's VM, a grader in a container or talking to a remote engine), a
    folder of that name here would be another disk: the free space is read through the engine,
    from ``df /`` in a small labelled container of the job (its root filesystem lives on the
    daemon's disk), which prints it every :data:`REMOTE_INTERVAL_S` seconds.
    """

    def __init__(self, sandbox: Sandbox, path: Optional[str], limit: int, interval: float = 0.5):
        super().__init__(name=f"disk-guard-{sandbox.job}", daemon=True)
        self.sandbox, self.path, self.limit, self.interval = sandbox, path, limit, interval
        self.halt = threading.Event()
        self.peak = 0
        self._probe = None if path else _RemoteDisk(sandbox)
        self.start_free = self.free()
        if self.start_free is None:
            if self._probe is not None:
                self._probe.close()
            raise OSError("free space unreadable")
        self.floor = min(2 * 1024**3, self.start_free // 10)
        self.account = DiskAccount(self.start_free)

    def window(self, opening: bool) -> None:
        """A step with unlabelled writes starts (``opening``) or ends: settle the account there."""
        if self.halt.is_set():
            return
        free = self.free()
        own = self.own_bytes()
        if free is not None and own is not None:
            self.account.settle(free, own, charge_drop=not opening)

    @classmethod
    def start(cls, sandbox: Sandbox) -> Optional["DiskGuard"]:
        try:
            limit = int(float(os.environ.get("AUTOGRADER_DISK_LIMIT_MB", DISK_LIMIT_MB)) * 1024**2)
            if limit <= 0:
                return None
            info = sandbox.client.info()
            root = info.get("DockerRootDir") or "/var/lib/docker"
            local = os.path.isdir(root) and info.get("Name") == socket.gethostname()
            guard = cls(sandbox, root if local else None, limit, 0.5 if local else REMOTE_INTERVAL_S)
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError, ValueError) as exc:
            log.debug("disk guard off: %s", exc)
            return None
        threading.Thread.start(guard)
        return guard

    def free(self) -> Optional[int]:
        if self._probe is not None:
            return self._probe.free(timeout=max(10.0, 3 * REMOTE_INTERVAL_S))
        try:
            return shutil.disk_usage(self.path).free
        except OSError:
            return None

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            free = self.free()
            if free is None:
                continue
            used = self.account.used(free)
            if used > self.limit and free >= self.floor and not self.sandbox.unseen_writes():
                # Only labelled writes of this job since the last settlement: ask the engine.
                own = self.own_bytes()
                if own is not None:
                    used = self.account.settle(free, own, charge_drop=False)
            self.peak = max(self.peak, used)
            if used > self.limit or free < self.floor:
                self.sandbox.stop_everything(
                    f"arrêté par le correcteur : la correction a écrit plus de {self.limit // 1024**2} Mo "
                    f"sur le disque ({used // 1024**2} Mo). Un build ou un conteneur écrit-il des "
                    "fichiers énormes ?")
                return

    def own_bytes(self) -> Optional[int]:
        """What this job holds on the engine's disk, by its labels: its containers' writable
        layers, their volumes and the job's volumes, the layers of its images that no other image
        shares. ``None`` when the engine does not say."""
        job = self.sandbox.job
        try:
            api = self.sandbox.client.api
            containers = api.containers(all=True, size=True, filters={"label": f"{JOB_LABEL}={job}"})
            usage = api.df()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            log.debug("disk usage of job %s unknown: %s", job, exc)
            return None
        mounted = {m.get("Name") for c in containers for m in c.get("Mounts") or [] if m.get("Type") == "volume"}

        def ours(item: dict) -> bool:
            return (item.get("Labels") or {}).get(JOB_LABEL) == job

        total = sum(c.get("SizeRw") or 0 for c in containers)
        total += sum(max(0, (v.get("UsageData") or {}).get("Size") or 0) for v in usage.get("Volumes") or []
                     if v.get("Name") in mounted or ours(v))
        total += sum(max(0, (i.get("Size") or 0) - max(0, i.get("SharedSize") or 0))
                     for i in usage.get("Images") or [] if ours(i))
        return total

    def stop(self) -> None:
        self.halt.set()
        if self._probe is not None:
            self._probe.close()


class DiskAccount:
    """What one job wrote to the engine's disk, from free-space readings and its labelled usage.

    ``settle(free, own, charge_drop)`` closes a period at a reading: a period during which an
    unlabelled step ran (``charge_drop``) is charged the whole drop of free space; another only
    the growth of ``own`` (the job's labelled usage). :meth:`used` between settlements assumes
    the worst (the whole drop since the last settlement), so it never undercounts."""

    def __init__(self, free: int, own: int = 0):
        self._lock = threading.Lock()
        self.charged = 0
        self.free_at, self.own_at = free, own

    def used(self, free: int) -> int:
        with self._lock:
            return self.charged + (self.free_at - free)

    def settle(self, free: int, own: int, charge_drop: bool) -> int:
        with self._lock:
            self.charged = max(0, self.charged + ((self.free_at - free) if charge_drop else (own - self.own_at)))
            self.free_at, self.own_at = free, own
            return self.charged


REMOTE_INTERVAL_S = 2
DISK_PROBE_IMAGE = "debian:trixie-slim"


class _RemoteDisk:
    """Free bytes of the daemon's disk, read through the engine: a labelled container of the job
    prints ``df -Pk /`` every few seconds; its log stream is read in a thread."""

    def __init__(self, sandbox: Sandbox):
        self.latest: Optional[int] = None
        self.changed = threading.Condition()
        script = f"while :; do df -Pk / | tail -n 1; sleep {REMOTE_INTERVAL_S}; done"
        self.container = sandbox.client.containers.run(
            DISK_PROBE_IMAGE, ["sh", "-c", script], detach=True, name=sandbox.name("disque"),
            labels=sandbox.labels, network_mode="none", read_only=True, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], user="65534:65534", mem_limit=32 * 1024**2, pids_limit=16,
            log_config=docker.types.LogConfig(**LOG_CONFIG))
        self.stream = self.container.logs(stream=True, follow=True)
        threading.Thread(target=self._read, name=f"disk-probe-{sandbox.job}", daemon=True).start()

    def _read(self) -> None:
        pending = b""
        try:
            for chunk in self.stream:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    fields = line.split()
                    if len(fields) >= 4 and fields[3].isdigit():
                        with self.changed:
                            self.latest = int(fields[3]) * 1024
                            self.changed.notify_all()
        except Exception:  # noqa: BLE001 - the stream ends when the container goes
            pass

    def free(self, timeout: float) -> Optional[int]:
        with self.changed:
            if self.latest is None:
                self.changed.wait_for(lambda: self.latest is not None, timeout)
            return self.latest

    def close(self) -> None:
        _safe(lambda: self.stream.close(), default=None)
        _safe(lambda: self.container.remove(force=True), default=None)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while cleaning up; deliver them afterwards (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            raise KeyboardInterrupt


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


def _api(timeout: float, version: str) -> docker.APIClient:
    """A low-level client whose socket reads give up after ``timeout`` seconds (``version``
    given, so that making it asks the daemon nothing)."""
    return docker.APIClient(timeout=int(timeout), version=version, **docker.utils.kwargs_from_env())


def _safe(fn, default=()):
    try:
        return fn()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        log.debug("cleanup step failed: %s", exc)
        return default



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
