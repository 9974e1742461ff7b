"""Networks seen from inside a container: name resolution, TCP connects and HTTP gets from a
container, the networks it is on, and published ports."""

from __future__ import annotations

import re
from typing import Optional


from autograder.core import Fail
from autograder.engine.sandbox import Sandbox

from autograder.probes.containers import container_gone
from autograder.probes.waits import Timeout, wait_until


# -- networks ----------------------------------------------------------------------------------
# Questions about container networking, asked from inside a container with the tools its image
# has (Python, getent, bash, nc): no tool is installed, nothing is published for the probe.

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
