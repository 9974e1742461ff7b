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
import re
import secrets
import signal
import socket
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

from autograder.engine import builder
from autograder.engine.containers import SandboxContainer
from autograder.engine.lease import Lease
from autograder.engine.imagefacts import ChunkReader
from autograder.core import GraderUnavailable
from autograder.engine.policy import NO_MASQUERADE
from autograder.engine.diskguard import DiskGuard
from autograder.engine.docker_api import (JOB_LABEL, LOG_CONFIG, MEM_LIMIT, NANO_CPUS, OUTPUT_LIMIT, PIDS_LIMIT,
                                          TIMEOUTS, DockerGone, DockerStepError, _api, _explain, _safe, api_kwargs,
                                          daemon_alive, docker_client, engine_host, new_job_id, port_bindings, sweep)
from autograder.engine.docker_cli import CLI_OBSERVERS


log = logging.getLogger(__name__)




ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
BUILD_TIMEOUT_S = 600


BUILD_LOG_TAIL = 200


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
    # The engine's API address when it is not the environment's (DOCKER_HOST): Podman for lab 13.
    base_url: Optional[str] = None
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
        return daemon_alive(self.client, self.base_url)

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
                           **api_kwargs(self.base_url))
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
        api = _api(timeout + 5, self.client.api.api_version, self.base_url)
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
