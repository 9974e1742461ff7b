"""Shared probes: the small behavioural questions checks are built from.

Each probe either returns what it observed or raises :class:`Fail` with a
French message (expected / observed / what to do). Waiting is always on a
condition with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import secrets
import time
import urllib.error
import urllib.request
from typing import Callable, Optional, TypeVar

import docker.errors

from .core import Fail
from .sandbox import DockerStepError, Sandbox

T = TypeVar("T")


class Timeout(Exception):
    def __init__(self, last: object):
        super().__init__(str(last))
        self.last = last


def wait_until(condition: Callable[[], Optional[T]], timeout: float, *,
               give_up: Callable[[], Optional[str]] = lambda: None,
               interval: float = 0.2, max_interval: float = 2.0) -> T:
    """Poll ``condition`` until it returns a truthy value or ``timeout`` passes.

    ``give_up`` is asked between polls; when it returns a reason (e.g. "the
    container exited") the wait stops at once with :class:`Timeout` carrying it.
    Exceptions raised by ``condition`` count as "not yet" and the last one is kept.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last = value
        except (OSError, docker.errors.DockerException, DockerStepError) as exc:
            last = exc
        reason = give_up()
        if reason:
            raise Timeout(reason)
        if time.monotonic() >= deadline:
            raise Timeout(last)
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, max_interval)


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


def host_port(container, port: int) -> int:
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    if not bindings:
        raise Fail(expected=f"le port {port} du conteneur publié", observed="aucune publication",
                   hint="signalez ce problème à l'enseignant (publication faite par le correcteur).")
    return int(bindings[0]["HostPort"])


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_http_ok(container, port: int, path: str, timeout: float = 40.0) -> str:
    """Wait until ``GET path`` on the container's published ``port`` answers 200."""
    url = f"http://127.0.0.1:{host_port(container, port)}{path}"
    try:
        wait_until(lambda: http_status(url) == 200, timeout, give_up=lambda: container_gone(container))
    except Timeout as exc:
        observed = (f"{exc.last}" if isinstance(exc.last, str) else
                    f"pas de réponse 200 sur {path} en {int(timeout)} s"
                    + (f" (dernier essai : {exc.last})" if exc.last not in (None, False) else ""))
        raise Fail(expected=f"HTTP 200 sur le port {port}, route {path}",
                   observed=f"{observed}\nDerniers journaux :\n{logs_tail(container)}",
                   hint="l'application doit écouter sur 0.0.0.0 (pas 127.0.0.1) et sur le port "
                        f"{port} ; testez avec `docker run -p 127.0.0.1:{port}:{port} IMAGE` puis "
                        f"`curl localhost:{port}{path}`.") from None
    return url


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


def http_ok(container, port: int, path: str) -> bool:
    try:
        return http_status(f"http://127.0.0.1:{host_port(container, port)}{path}") == 200
    except (OSError, Fail):
        return False


def stop_duration(container, grace: int = 10) -> float:
    """Seconds ``docker stop`` takes with ``grace`` seconds before SIGKILL."""
    t0 = time.monotonic()
    container.stop(timeout=grace)
    return time.monotonic() - t0


def find_files_in_image(sandbox: Sandbox, image: str, match: Callable[[str, bytes | None], bool],
                        read_names: Callable[[str], bool] = lambda n: False) -> list[str]:
    """Paths in ``image`` for which ``match(path, content)`` holds (content read only for
    paths where ``read_names(path)``)."""
    found = []
    for member, tar in sandbox.image_files(image):
        content = None
        if member.isfile() and read_names(member.name):
            fh = tar.extractfile(member)
            content = fh.read(4096) if fh else None
        if match(member.name, content):
            found.append("/" + member.name.lstrip("./"))
    return found


def token() -> str:
    return "grader-" + secrets.token_hex(6)


def wait_running(container, timeout: float = 20.0) -> None:
    """Wait until the container's process has started (or fail with its logs)."""
    try:
        wait_until(lambda: _is_running(container), timeout, give_up=lambda: container_gone(container))
    except Timeout as exc:
        raise Fail(expected="le conteneur reste démarré",
                   observed=f"{exc.last}\nDerniers journaux :\n{logs_tail(container)}",
                   hint="lancez l'image avec `docker run` et lisez l'erreur affichée.") from None


def _is_running(container) -> bool:
    container.reload()
    return container.status == "running"


def health_status(container, timeout: float = 90.0) -> str:
    """Wait for the container's HEALTHCHECK verdict (``healthy`` or :class:`Fail`)."""
    if inspect_field(container, "Config.Healthcheck.Test") in (None, [], ["NONE"]):
        raise Fail(expected="un healthcheck défini pour ce service",
                   observed="aucun healthcheck (docker inspect : Config.Healthcheck vide)",
                   hint="ajoutez un bloc `healthcheck:` (test, interval, timeout, retries, start_period).",
                   rule="CIS Docker 4.6, DL3057")

    def healthy() -> bool:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status")
        if status == "unhealthy":
            raise _Unhealthy()
        return status == "healthy"

    try:
        wait_until(healthy, timeout, give_up=lambda: container_gone(container))
    except (_Unhealthy, Timeout) as exc:
        health = container.attrs["State"].get("Health", {})
        last = (health.get("Log") or [{}])[-1]
        raise Fail(expected="le conteneur devient « healthy »",
                   observed=f"état {health.get('Status', '?')} "
                            f"({getattr(exc, 'last', '') or 'unhealthy'}) ; dernier test : code "
                            f"{last.get('ExitCode', '?')}, sortie « {str(last.get('Output', '')).strip()[:300]} »",
                   hint="lancez la commande du healthcheck avec `docker compose exec SERVICE …` ; "
                        "vérifiez l'utilisateur et la base passés à pg_isready.") from None
    return "healthy"


class _Unhealthy(Exception):
    pass


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


# -- PostgreSQL (exec in the database container: no port needs to be published) ---------------
def pg_credentials(sandbox: Sandbox, container) -> tuple[str, str]:
    """User and database the way the official postgres image derives them (``_FILE`` too)."""
    env = container_env(container)

    def value(name: str) -> str:
        if env.get(name):
            return env[name]
        if env.get(name + "_FILE"):
            code, out = sandbox.exec(container, ["cat", env[name + "_FILE"]], timeout=10)
            if code == 0:
                return out.strip()
        return ""

    user = value("POSTGRES_USER") or "postgres"
    return user, value("POSTGRES_DB") or user


def psql(sandbox: Sandbox, container, sql: str, timeout: float = 30) -> str:
    user, db = pg_credentials(sandbox, container)
    return exec_ok(sandbox, container, ["psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-U", user, "-d", db,
                                        "-tAc", sql], timeout=timeout).strip()


def wait_pg_ready(sandbox: Sandbox, container, timeout: float = 60.0) -> None:
    """Wait until PostgreSQL accepts connections in ``container`` (``pg_isready``).

    Over TCP on 127.0.0.1: while the init scripts run, the image's temporary server
    listens on the unix socket only, so a socket-level "ready" would come too early.
    """
    user, db = pg_credentials(sandbox, container)
    try:
        wait_until(lambda: sandbox.exec(container, ["pg_isready", "-q", "-h", "127.0.0.1", "-U", user,
                                                    "-d", db],
                                        timeout=10)[0] == 0,
                   timeout, give_up=lambda: container_gone(container))
    except Timeout as exc:
        observed = exc.last if isinstance(exc.last, str) else f"toujours pas prêt après {int(timeout)} s"
        raise Fail(expected="PostgreSQL accepte les connexions",
                   observed=f"{observed}\nDerniers journaux :\n{logs_tail(container)}",
                   hint="lisez `docker compose logs db` : mot de passe manquant "
                        "(POSTGRES_PASSWORD), script d'initialisation en erreur… ") from None


def pg_write_token(sandbox: Sandbox, container) -> str:
    value = token()
    psql(sandbox, container, "CREATE TABLE IF NOT EXISTS autograder_probe (v text); "
                             f"INSERT INTO autograder_probe VALUES ('{value}');")
    return value


def pg_has_token(sandbox: Sandbox, container, value: str) -> bool:
    out = psql(sandbox, container, "SELECT count(*) FROM autograder_probe WHERE v = "
                                   f"'{value}'" if _table_exists(sandbox, container) else "SELECT 0")
    return out.strip() not in ("", "0")


def _table_exists(sandbox: Sandbox, container) -> bool:
    return psql(sandbox, container, "SELECT to_regclass('public.autograder_probe') IS NOT NULL") == "t"
