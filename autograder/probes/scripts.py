"""Run a student's shell script safely: in a locked-down container, Docker only through the proxy.

A lab that grades a script driving Docker (``publier.sh``, ``backup.sh``…) must
never run it on the grading host, where the Docker socket is root. The script
runs instead in a throwaway container of the course's Python image (it has bash):
no capabilities, ``no-new-privileges``, a read-only root filesystem, the grading
user's uid, the job's limits and label, a deadline, and ``DOCKER_HOST`` pointing at
an :class:`~autograder.engine.apiproxy.ApiProxy` whose policy allows only what the lab
needs.

Nothing of the grader's host reaches that container, so that it works the same
where the grader and the engine share no kernel and no filesystem (Docker
Desktop on macOS or Windows, a grader in a container, a remote engine):

* **The submission** is put with ``put_archive`` into a per-run volume (``/run/correcteur``)
  of the created, not yet started container, then copied into an in-memory working
  folder: a volume because the engine accepts files into a volume of a container
  whose root filesystem is read-only, and not into its tmpfs before it runs. Other
  inputs (lab 08's compose file, a dump to restore) go the same way, and outputs (a
  dump) come back with ``get_archive`` once the script has ended.
* **The docker CLI and its plugins** come from the course image ``docker:28-cli``, for the
  engine's architecture: its ``/usr/local`` is copied by the engine into a job volume
  (a volume created empty is filled from the image when first mounted) and mounted
  read-only at ``/opt/docker-cli``. Never the host's binaries (a macOS ``docker`` cannot
  run in a Linux container).
* **The API proxy** listens on TCP with a secret per-job token that the CLI sends from
  ``config.json`` (``HttpHeaders``), which the grader writes next to the submission. The
  script reaches it as ``host.docker.internal`` from the job's own script network
  (no outside access), and the proxy listens, in this order of preference:

  - inside the grader's own container, when the grader runs in a container of this engine
    (detected from ``/.dockerenv`` and its hostname, or named by ``AUTOGRADER_SELF_CONTAINER``):
    that container joins the script network, the proxy binds its address there;
  - on the script network's gateway, when that address is the grader's (a Linux host);
  - else on ``127.0.0.1``: Docker Desktop maps ``host.docker.internal`` (given as its
    ``host-gateway``) to the loopback of the machine the grader runs on. Not tested here: no
    Docker Desktop on the project's machines; a Linux engine the grader does not share a network
    with (rootless, remote) cannot reach it this way and labs 04 and 08 then fail their scripts.

  In the first two cases the proxy also drops connections from outside the script network.
"""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import docker.errors
import requests.exceptions

from autograder.engine.apiproxy import ApiProxy
from autograder.core import Fail, GraderUnavailable
from autograder.engine.imagefacts import is_podman
from autograder.engine.policy import NO_MASQUERADE
from autograder.probes.waits import Timeout, wait_until
from autograder.engine.docker_api import DockerStepError
from autograder.engine.sandbox import Sandbox

if TYPE_CHECKING:  # pragma: no cover
    from autograder.engine.runner import Grading

RUNNER_IMAGE = "python:3.13-slim"
CLI_IMAGE = "docker:28-cli"
KEEPER_IMAGE = "debian:trixie-slim"
IN_IO = "/run/correcteur"
IN_SUBMISSION = f"{IN_IO}/soumission"
IN_CONFIG = f"{IN_IO}/docker"
IN_CLI = "/opt/docker-cli"
PLUGINS_DIR = f"{IN_CLI}/libexec/docker/cli-plugins"
PROXY_NAME = "host.docker.internal"
SELF_ENV = "AUTOGRADER_SELF_CONTAINER"
# On the script's container: it talks to a service of the grader (autograder.tools.bench cannot replay it).
SERVICE_LABEL = "org.4data.autograder.service"
PATH = f"{IN_CLI}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INTERPRETERS = {"sh", "bash", "dash"}
LOG_LINES = 40
MAX_OUTPUT = 256 * 1024**2
DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


@dataclass
class ScriptRun:
    """How a script's run ended: exit code, the tail of its output, what the proxy refused."""

    code: int = -1
    log: str = ""
    refused: list[str] = field(default_factory=list)
    timed_out: bool = False
    limit_s: float = 0.0


@dataclass(frozen=True)
class Endpoint:
    """Where the proxy listens and how the script container is told about it."""

    bind: str                 # the address the proxy binds
    extra_hosts: dict         # host.docker.internal -> that address, where the engine must be told
    peers: Optional[tuple]    # networks a client may connect from (None: not knowable, token only)
    network: str              # the script network


def interpreter(script: Path) -> list[str]:
    """The shell named by the script's ``#!`` line, with its options (``bash`` when there is none)."""
    try:
        first = script.read_text(errors="replace").splitlines()[0] if script.stat().st_size else ""
    except (OSError, IndexError):
        return ["bash"]
    if first.startswith("#!"):
        words = first[2:].split()
        if words and Path(words[0]).name == "env" and len(words) > 1:
            words = words[1:]
        if words and Path(words[0]).name in INTERPRETERS:
            return [Path(words[0]).name] + [w for w in words[1:] if w.startswith("-")]
    return ["bash"]


def _owned(tmpfs_options: str) -> str:
    """The tmpfs options plus the grading user's uid and gid: Engine 20.10 drops ``mode=1777`` on a
    tmpfs that is also the working directory, so a grader running as a normal user (member of the
    docker group, or the course container) could not write there without owning it. Root needs
    no such option (and Podman refuses ``uid=``/``gid=`` on a tmpfs)."""
    if os.getuid() == 0 and os.getgid() == 0:
        return tmpfs_options
    return f"{tmpfs_options},uid={os.getuid()},gid={os.getgid()}"


# -- where the script reaches the proxy ------------------------------------------------------------
def own_container(client) -> Optional["docker.models.containers.Container"]:
    """The container of this engine the grader runs in, or ``None`` (on a host, Docker Desktop…)."""
    named = os.environ.get(SELF_ENV, "").strip()
    if not named and not (os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")):
        return None
    try:
        found = client.containers.get(named or socket.gethostname())
    except DOCKER_ERRORS:
        return None
    if not named and (found.attrs.get("Config") or {}).get("Hostname") != socket.gethostname():
        return None  # a container that happens to carry our hostname as its name: not us
    mode = (found.attrs.get("HostConfig") or {}).get("NetworkMode") or ""
    if mode == "host" or mode.startswith("container:"):
        return None  # it cannot join a network; with the host's network, the gateway is ours anyway
    return found


def _bindable(address: str) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


def endpoint(sandbox: Sandbox) -> Endpoint:
    """Create the job's script network and choose where the proxy listens (see the module's text)."""
    client = sandbox.client
    name = sandbox.name("scripts")
    net = client.networks.create(name, driver="bridge", labels=sandbox.labels, options=dict(NO_MASQUERADE))
    net.reload()
    config = ((net.attrs.get("IPAM") or {}).get("Config") or [{}])[0]
    subnet, gateway = config.get("Subnet"), config.get("Gateway")
    me = own_container(client)
    if me is not None:
        net.connect(me)
        sandbox.on_close(lambda: _disconnect(net, me))
        me.reload()
        address = me.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
        return Endpoint(address, {PROXY_NAME: address}, (subnet,), name)
    if gateway and not _bindable(gateway) and is_podman(client):
        # Podman brings a network's bridge (and its gateway address) up with its first container.
        sandbox.run(KEEPER_IMAGE, suffix="scripts-keeper", network=name, command=["sleep", "infinity"],
                    read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"], user="65534:65534")
        try:
            wait_until(lambda: _bindable(gateway), 15)
        except Timeout:
            pass
    if gateway and _bindable(gateway):
        return Endpoint(gateway, {PROXY_NAME: gateway}, (subnet,), name)
    # Docker Desktop: its `host-gateway` is the machine the grader runs on, loopback included
    # (some versions do not resolve host.docker.internal in containers without it).
    return Endpoint("127.0.0.1", {PROXY_NAME: "host-gateway"}, None, name)


def _disconnect(net, container) -> None:
    try:
        net.disconnect(container, force=True)
    except DOCKER_ERRORS:
        pass


def cli_volume(sandbox: Sandbox) -> str:
    """A job volume holding ``/usr/local`` of :data:`CLI_IMAGE` (docker, its Compose and buildx plugins).

    The engine fills a new empty volume from the image the first time a container mounts it, so
    nothing travels through the grader and the binaries are those of the engine's architecture.
    """
    client = sandbox.client
    name = sandbox.name("docker-cli")
    try:
        client.images.get(CLI_IMAGE)
    except docker.errors.ImageNotFound:
        raise GraderUnavailable(f"L'image {CLI_IMAGE} (client Docker pour les scripts des étudiants) manque : "
                                "lancez `make images`.",
                                f"The {CLI_IMAGE} image is missing: run `make images`.") from None
    client.volumes.create(name, labels=sandbox.labels)
    # Docker fills the volume when the container is created, Podman when it starts: start it, with
    # the CLI itself, which also proves that it runs on this engine.
    helper = client.containers.create(CLI_IMAGE, name=sandbox.name("docker-cli-copy"), labels=sandbox.labels,
                                      entrypoint=["/usr/local/bin/docker"], command=["--version"],
                                      network_mode="none", mem_limit=256 * 1024**2,
                                      volumes={name: {"bind": "/usr/local", "mode": "rw"}})
    try:
        helper.start()
        wait_until(lambda: _exited(helper), 60)
        code = helper.attrs["State"].get("ExitCode")
        if code != 0:
            raise GraderUnavailable(f"Le client Docker de l'image {CLI_IMAGE} ne démarre pas (code {code}) : "
                                    f"{helper.logs(tail=5).decode('utf-8', 'replace').strip()}",
                                    f"The docker CLI of {CLI_IMAGE} does not run here (exit code {code}).")
    finally:
        helper.remove(force=True)
    return name


# -- files in and out -------------------------------------------------------------------------------
def _entry(tar: tarfile.TarFile, name: str, *, data: Optional[bytes] = None, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.uid, info.gid, info.uname, info.gname = os.getuid(), os.getgid(), "", ""
    if data is None:
        info.type, info.mode = tarfile.DIRTYPE, mode
        tar.addfile(info)
    else:
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))


def _io_archive(out, submission: Path, config: dict, inputs: dict, output_dirs: set[str]) -> None:
    """The tar put into the run's volume: the submission, the CLI's config, inputs, output folders."""
    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid, info.gid, info.uname, info.gname = os.getuid(), os.getgid(), "", ""
        return info

    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(str(submission), arcname=Path(IN_SUBMISSION).name, filter=owned)
        _entry(tar, Path(IN_CONFIG).name, mode=0o700)
        _entry(tar, f"{Path(IN_CONFIG).name}/config.json", data=json.dumps(config).encode(), mode=0o600)
        made = set()
        for folder in sorted(output_dirs | {str(Path(p).parent) for p in inputs}):
            for parent in reversed([folder, *map(str, Path(folder).parents)]):
                if parent not in (".", "") and parent not in made:
                    _entry(tar, parent, mode=0o777)  # the script (another uid inside) writes there
                    made.add(parent)
        for relative, source in inputs.items():
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            _entry(tar, relative, data=data, mode=0o644)


def _fetch(container, relative: str, dest: Path) -> None:
    """Copy ``IN_IO/relative`` out of the (stopped) container to ``dest``; nothing when it is absent."""
    try:
        stream, _ = container.get_archive(f"{IN_IO}/{relative}")
    except docker.errors.NotFound:
        return
    with tempfile.TemporaryFile() as buf:
        size = 0
        for chunk in stream:
            size += len(chunk)
            if size > MAX_OUTPUT:
                return
            buf.write(chunk)
        buf.seek(0)
        with tarfile.open(fileobj=buf, mode="r") as tar:
            member = next((m for m in tar if m.isfile()), None)
            if member is None:
                return
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(tar.extractfile(member).read())


# -- the run --------------------------------------------------------------------------------------
def run_script(g: "Grading", script: str, policy, *, workdir: str, args: tuple[str, ...] = (),
               environment: Optional[dict] = None, inputs: Optional[dict[str, Union[Path, bytes]]] = None,
               outputs: Optional[dict[str, Path]] = None, prelude: str = "", with_compose: bool = False,
               work_tmpfs: str = "mode=1777,size=64m", timeout_s: float = 120,
               suffix: Optional[str] = None) -> ScriptRun:
    """Run ``script`` (a file of the submission) behind an :class:`ApiProxy` enforcing ``policy``.

    ``workdir`` is the in-memory folder the submission is copied to (the script's working
    directory); ``prelude`` is shell run there before the script (e.g. ``rm -f .env``).
    ``inputs`` (path relative to ``/run/correcteur`` -> host file or bytes) are put there before
    the run; ``outputs`` (relative path -> host path) are copied back after it, when the script
    wrote them (their folders exist and are writable). ``with_compose`` gives the CLI its Compose
    plugin.
    """
    path = g.workdir / script
    if not path.is_file():
        raise Fail(f"un script {script} dans le dossier du TP", f"{script} introuvable",
                   f"écrivez {script} à la racine du TP (le fichier de départ contient des TODO).")
    sandbox = g.sandbox
    try:
        cli = g.once("script-cli", lambda: cli_volume(sandbox))
        where = g.once("script-endpoint", lambda: endpoint(sandbox))
        proxy = ApiProxy(policy, where.bind, peers=list(where.peers) if where.peers else None)
    except ValueError as exc:
        raise GraderUnavailable("Ce TP demande un démon Docker joignable par un socket unix ou en TCP sans TLS "
                                f"({exc}).", f"This lab needs a Docker daemon on a unix socket or plain TCP: {exc}") \
            from None
    except (Timeout, DockerStepError, *DOCKER_ERRORS) as exc:
        raise Fail(f"{script} peut être lancé", f"préparation impossible : {exc}",
                   "problème du correcteur : signalez-le à l'enseignant.") from None
    name = suffix or Path(script).stem
    volume = sandbox.name(f"{name}-io")
    run = ScriptRun()
    with proxy:
        config = {"HttpHeaders": proxy.http_headers, **({"cliPluginsExtraDirs": [PLUGINS_DIR]} if with_compose else {})}
        host, port = proxy.address
        command = f'cp -R {IN_SUBMISSION}/. . && {prelude + " && " if prelude else ""}exec "$0" "$@"'
        c = None
        try:
            sandbox.client.volumes.create(volume, labels=sandbox.labels)
            c = sandbox.create(
                RUNNER_IMAGE, suffix=name, working_dir=workdir, labels={**sandbox.labels, SERVICE_LABEL: "apiproxy"},
                command=["sh", "-c", command, *interpreter(path), script, *args],
                environment={"DOCKER_HOST": f"tcp://{PROXY_NAME}:{port}", "DOCKER_CONFIG": IN_CONFIG,
                             "DOCKER_CLI_HINTS": "false", "HOME": "/tmp", "PATH": PATH, **(environment or {})},
                volumes={volume: {"bind": IN_IO, "mode": "rw"}, cli: {"bind": IN_CLI, "mode": "ro"}},
                network=where.network, extra_hosts=dict(where.extra_hosts), user=f"{os.getuid()}:{os.getgid()}",
                cap_drop=["ALL"], security_opt=["no-new-privileges"], read_only=True,
                tmpfs={"/tmp": "mode=1777,size=64m", workdir: _owned(work_tmpfs)})
            with tempfile.TemporaryFile() as archive:
                _io_archive(archive, g.workdir, config, inputs or {},
                            {str(Path(p).parent) for p in (outputs or {})})
                archive.seek(0)
                if not c.put_archive(IN_IO, archive):
                    raise DockerStepError("les fichiers du TP n'ont pas pu être copiés dans le conteneur")
            c.start()
        except (DockerStepError, *DOCKER_ERRORS) as exc:
            _remove(c, sandbox, volume)
            raise Fail(f"{script} peut être lancé", str(exc),
                       "problème du correcteur : signalez-le à l'enseignant.") from None
        try:
            run.limit_s = g.remaining(timeout_s)
            try:
                wait_until(lambda: _exited(c), run.limit_s)
            except Timeout:
                run.timed_out = True
                try:
                    c.kill()
                except DOCKER_ERRORS:
                    pass
            c.reload()
            run.code = -1 if run.timed_out else c.attrs["State"].get("ExitCode", -1)
            try:
                run.log = c.logs(tail=LOG_LINES).decode("utf-8", "replace").strip()
            except DOCKER_ERRORS:
                run.log = "(journal indisponible)"
            for relative, dest in (outputs or {}).items():
                _fetch(c, relative, dest)
            run.refused = list(dict.fromkeys(proxy.refused))
        finally:
            _remove(c, sandbox, volume)
    return run


def _remove(container, sandbox: Sandbox, volume: str) -> None:
    """The run's container and volume go at once (the sandbox sweeps them anyway, by label)."""
    try:
        if container is not None:
            container.remove(force=True, v=True)
        sandbox.client.volumes.get(volume).remove(force=True)
    except DOCKER_ERRORS:
        pass


def _exited(c) -> bool:
    c.reload()
    return c.status in ("exited", "dead")
