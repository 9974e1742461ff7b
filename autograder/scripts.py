"""Run a student's shell script safely: in a locked-down container, Docker only through the proxy.

A lab that grades a script driving Docker (``publier.sh``, ``backup.sh``…) must
never run it on the grading host, where the Docker socket is root. The script
runs instead in a throwaway container of the course's Python image: no network,
no capabilities, ``no-new-privileges``, a read-only root filesystem, the
submission mounted read-only and copied into an in-memory working folder, the
host's static ``docker`` CLI (and, when asked, the Compose v2 plugin) mounted
read-only, and ``DOCKER_HOST`` pointing at an :class:`~autograder.apiproxy.ApiProxy`
whose policy allows only what the lab needs. The run has a deadline; the
container carries the job label and goes with the sandbox.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import docker.errors

from .apiproxy import ApiProxy
from .core import Fail, GraderUnavailable
from .probes import Timeout, compose_plugin, wait_until
from .sandbox import DockerStepError

if TYPE_CHECKING:  # pragma: no cover
    from .runner import Grading

RUNNER_IMAGE = "python:3.13-slim"
IN_SUBMISSION = "/submission"
IN_SOCKET_DIR = "/run/autograder"
PLUGIN_PATH = "/usr/local/lib/docker/cli-plugins/docker-compose"
INTERPRETERS = {"sh", "bash", "dash"}
LOG_LINES = 40


@dataclass
class ScriptRun:
    """How a script's run ended: exit code, the tail of its output, what the proxy refused."""

    code: int = -1
    log: str = ""
    refused: list[str] = field(default_factory=list)
    timed_out: bool = False
    limit_s: float = 0.0


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
    docker group, or the course container) could not write there without owning it."""
    return f"{tmpfs_options},uid={os.getuid()},gid={os.getgid()}"


def run_script(g: "Grading", script: str, policy, *, workdir: str, args: tuple[str, ...] = (),
               environment: Optional[dict] = None, volumes: Optional[dict] = None, prelude: str = "",
               with_compose: bool = False, work_tmpfs: str = "mode=1777,size=64m",
               timeout_s: float = 120, suffix: Optional[str] = None) -> ScriptRun:
    """Run ``script`` (a file of the submission) behind an :class:`ApiProxy` enforcing ``policy``.

    ``workdir`` is the in-memory folder the submission is copied to (the script's working
    directory); ``prelude`` is shell run there before the script (e.g. ``rm -f .env``);
    ``volumes`` are extra docker-py bind mounts; ``with_compose`` mounts the Compose plugin.
    """
    path = g.workdir / script
    if not path.is_file():
        raise Fail(f"un script {script} dans le dossier du TP", f"{script} introuvable",
                   f"écrivez {script} à la racine du TP (le fichier de départ contient des TODO).")
    cli = shutil.which("docker")
    plugin = compose_plugin() if with_compose else None
    if cli is None or (with_compose and plugin is None):
        raise GraderUnavailable("`docker` ou son greffon Compose v2 est introuvable sur la machine qui corrige.",
                                "The docker CLI or its Compose v2 plugin was not found on the grading host.")
    sockets = g.workdir.parent / "apiproxy"
    sockets.mkdir(exist_ok=True)
    try:
        proxy = ApiProxy(policy, sockets / "docker.sock")
    except ValueError as exc:
        raise GraderUnavailable("Ce TP demande un démon Docker local (socket unix) : DOCKER_HOST en TCP "
                                f"n'est pas pris en charge ({exc}).",
                                f"This lab needs a local Docker daemon (unix socket): {exc}") from None
    mounts = {str(g.workdir): {"bind": IN_SUBMISSION, "mode": "ro"},
              str(Path(cli).resolve()): {"bind": "/usr/local/bin/docker", "mode": "ro"},
              str(sockets): {"bind": IN_SOCKET_DIR, "mode": "ro"}, **(volumes or {})}
    if plugin is not None:
        mounts[str(plugin)] = {"bind": PLUGIN_PATH, "mode": "ro"}
    run = ScriptRun()
    with proxy:
        try:
            c = g.sandbox.run(
                RUNNER_IMAGE, suffix=suffix or Path(script).stem, working_dir=workdir,
                command=["sh", "-c", f'cp -R {IN_SUBMISSION}/. . && {prelude + " && " if prelude else ""}'
                                     'exec "$0" "$@"', *interpreter(path), script, *args],
                environment={"DOCKER_HOST": f"unix://{IN_SOCKET_DIR}/docker.sock", "DOCKER_CLI_HINTS": "false",
                             "HOME": "/tmp", **(environment or {})},
                volumes=mounts, network_mode="none", user=f"{os.getuid()}:{os.getgid()}", cap_drop=["ALL"],
                security_opt=["no-new-privileges"], read_only=True,
                tmpfs={"/tmp": "mode=1777,size=64m", workdir: _owned(work_tmpfs)})
        except DockerStepError as exc:
            raise Fail(f"{script} peut être lancé", str(exc),
                       "problème du correcteur : signalez-le à l'enseignant.") from None
        run.limit_s = g.remaining(timeout_s)
        try:
            wait_until(lambda: _exited(c), run.limit_s)
        except Timeout:
            run.timed_out = True
            try:
                c.kill()
            except docker.errors.DockerException:
                pass
        c.reload()
        run.code = -1 if run.timed_out else c.attrs["State"].get("ExitCode", -1)
        try:
            run.log = c.logs(tail=LOG_LINES).decode("utf-8", "replace").strip()
        except docker.errors.DockerException:
            run.log = "(journal indisponible)"
        run.refused = list(dict.fromkeys(proxy.refused))
    return run


def _exited(c) -> bool:
    c.reload()
    return c.status in ("exited", "dead")
