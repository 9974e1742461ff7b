"""Questions to a running container: its logs, published ports, processes, user, mounts and environment."""

from __future__ import annotations

import secrets
import time
from typing import Optional

import docker.errors

from autograder.core import Fail
from autograder.engine.docker_api import DockerStepError, engine_host
from autograder.engine.sandbox import Sandbox


def container_gone(container) -> Optional[str]:
    """A reason when ``container`` is no longer running (for :func:`wait_until`)."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return "le conteneur a disparu"
    if container.status in ("exited", "dead"):
        code = container.attrs["State"].get("ExitCode")
        return f"le conteneur s'est arrêté (code de sortie {code})"
    return None


def logs_tail(container, lines: int = 12) -> str:
    try:
        text = container.logs(tail=lines).decode("utf-8", "replace").strip()
    except docker.errors.DockerException:
        return "(journaux indisponibles)"
    return text or "(aucun journal)"


def host_port(container, port: int, host: Optional[str] = None) -> int:
    """The host port publishing ``port`` on ``host`` (default: where the grader reaches the
    engine's published ports, :func:`~autograder.engine.docker_api.engine_host`)."""
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    wanted = host or engine_host()
    bindings = [b for b in bindings if b.get("HostIp") == wanted] or bindings
    if not bindings and (gone := container_gone(container)):
        # A container that exited at once has no published port any more: say why.
        raise Fail(expected=f"le conteneur en marche, son port {port} publié",
                   observed=f"{gone}\nDerniers journaux :\n{logs_tail(container)}",
                   hint="lancez l'image avec `docker run` et lisez son erreur ; l'application doit "
                        "rester au premier plan (pas de service lancé en arrière-plan).")
    if not bindings:
        raise Fail(expected=f"le port {port} du conteneur publié", observed="aucune publication",
                   hint="signalez ce problème à l'enseignant (publication faite par le correcteur).")
    return int(bindings[0]["HostPort"])


def exec_ok(sandbox: Sandbox, container, cmd, timeout: float = 30, user: str = "") -> str:
    """Output of ``cmd`` in the container; :class:`Fail` when it exits non-zero."""
    code, out = sandbox.exec(container, cmd, timeout=timeout, user=user)
    if code != 0:
        shown = cmd if isinstance(cmd, str) else " ".join(cmd)
        raise Fail(expected=f"`{shown}` réussit dans le conteneur",
                   observed=f"code {code} : {out.strip()[-400:] or '(aucune sortie)'}",
                   hint="reproduisez avec `docker exec` pour voir l'erreur.")
    return out


def user_id(sandbox: Sandbox, container) -> int:
    """The uid the container's processes run as (``id -u``, with fallbacks for minimal images)."""
    for cmd in (["id", "-u"], ["python", "-c", "import os; print(os.getuid())"],
                ["sh", "-c", "awk '/^Uid:/{print $2}' /proc/1/status"]):
        try:
            code, out = sandbox.exec(container, cmd, timeout=15)
        except DockerStepError:
            continue
        if code == 0 and out.strip().isdigit():
            return int(out.strip())
    raise Fail(expected="pouvoir lire l'utilisateur du conteneur (`id -u`)",
               observed="ni `id`, ni `python`, ni `sh` ne répondent dans le conteneur",
               hint="gardez une image de base qui contient au moins `sh`.")


def pid1_catches(sandbox: Sandbox, container, signum: int) -> bool:
    """Whether PID 1 of the container has installed a handler for ``signum`` (SigCgt mask)."""
    try:
        code, out = sandbox.exec(container, ["cat", "/proc/1/status"], timeout=10)
    except DockerStepError:
        return False
    for line in out.splitlines() if code == 0 else []:
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def stop_duration(container, grace: int = 10) -> float:
    """Seconds ``docker stop`` takes with ``grace`` seconds before SIGKILL."""
    t0 = time.monotonic()
    container.stop(timeout=grace)
    return time.monotonic() - t0


def token() -> str:
    return "grader-" + secrets.token_hex(6)


def mount_at(container, path: str) -> Optional[dict]:
    """The mount that holds ``path`` in the container (longest destination prefix)."""
    container.reload()
    best = None
    for m in container.attrs.get("Mounts", []):
        dest = m["Destination"].rstrip("/") or "/"
        if path == dest or path.startswith(dest + "/") or dest == "/":
            if best is None or len(dest) > len(best["Destination"].rstrip("/")):
                best = m
    return best


def inspect_field(obj, path: str):
    """A field of ``docker inspect`` by dotted path (``HostConfig.Memory``); None when absent."""
    obj.reload()
    value = obj.attrs
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def container_env(container) -> dict[str, str]:
    container.reload()
    env = {}
    for item in container.attrs["Config"].get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env
