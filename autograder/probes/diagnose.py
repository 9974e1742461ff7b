"""Why a container does not serve: diagnoses from evidence the grader can read, never from timing.

When a container exits or does not answer, the advice names the real cause from facts:

* the container stopped: its exit code and last log lines; when the Dockerfile has neither ``CMD``
  nor ``ENTRYPOINT``, the base image's default command that ran instead (read in the image);
* it runs but does not answer: the sockets it listens on, read from ``/proc/net/tcp`` and
  ``/proc/net/tcp6`` inside the container (127.0.0.1 only, another port, nothing at all);
* PID 1 is a shell (``/bin/sh -c …``, the shell form of ``CMD``), read from ``/proc/1/cmdline``.

The same state always gives the same text: each fact is read once the container is in a settled
state (exited, or running past the deadline), and facts are listed in a fixed order.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import docker

from autograder.readers.dockerfile import base_images, final_base, has_command
from autograder.engine.docker_api import DockerStepError
from autograder.engine.sandbox import Sandbox

LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp*
SHELLS = {"sh", "bash", "dash", "ash", "busybox"}
# Docker's embedded DNS server listens inside the container's namespace on a user-defined network.
DOCKER_DNS = "127.0.0.11"


@dataclass(frozen=True)
class Socket:
    address: str  # "0.0.0.0", "127.0.0.1", "::", "::1"…
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback

    @property
    def any(self) -> bool:
        return self.address in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


def _address(hex_addr: str) -> str:
    """An address of /proc/net/tcp* (host-order 32-bit words in hex) as text."""
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(words)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ip)


def parse_listening(text: str) -> list[Socket]:
    """The listening sockets in the text of /proc/net/tcp and /proc/net/tcp6 (sorted, unique)."""
    found = set()
    for row in text.splitlines():
        fields = row.split()
        if len(fields) < 4 or ":" not in fields[1] or fields[3] != LISTEN:
            continue
        addr, _, port = fields[1].rpartition(":")
        try:
            sock = Socket(_address(addr), int(port, 16))
        except ValueError:
            continue
        if sock.address != DOCKER_DNS:
            found.add(sock)
    return sorted(found, key=lambda s: (s.port, s.address))


def _read(sandbox: Sandbox, container, path_list: list[str]) -> Optional[str]:
    """The concatenated text of files in a running container (``cat``, else python), or None."""
    for cmd in (["cat", *path_list],
                ["python3", "-c", "import sys\nfor p in sys.argv[1:]:\n try: print(open(p).read())\n"
                                  " except OSError: pass", *path_list]):
        try:
            code, out = sandbox.exec(container, cmd, timeout=10)
        except DockerStepError:
            continue
        if code == 0 or out.strip():
            return out
    return None


def listening(sandbox: Sandbox, container) -> Optional[list[Socket]]:
    """The TCP sockets listening in the container, or None when they cannot be read."""
    text = _read(sandbox, container, ["/proc/net/tcp", "/proc/net/tcp6"])
    return None if text is None else parse_listening(text)


def pid1(sandbox: Sandbox, container) -> Optional[list[str]]:
    """PID 1's command line in a running container (None when unreadable)."""
    text = _read(sandbox, container, ["/proc/1/cmdline"])
    if not text:
        return None
    return [a for a in text.split("\0") if a]


def shell_pid1(argv: Optional[list[str]]) -> bool:
    """Is this PID 1 a shell running a command string (``/bin/sh -c "python app.py"``)?"""
    return bool(argv) and Path(argv[0]).name in SHELLS and "-c" in argv[1:3]


def shown(argv) -> str:
    return shlex.join(argv) if isinstance(argv, list) else str(argv)


def default_command(sandbox: Sandbox, image: str) -> str:
    """What a container of ``image`` runs without arguments (ENTRYPOINT + CMD), as text."""
    try:
        config = sandbox.client.images.get(image).attrs.get("Config") or {}
    except docker.errors.DockerException:
        return "?"
    argv = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    return shown(argv) if argv else "(aucune)"


def missing_command(sandbox: Sandbox, workdir: Path, image: str, dockerfile: str = "Dockerfile") -> Optional[str]:
    """French evidence when the Dockerfile's final stage has neither CMD nor ENTRYPOINT (its own or
    from a stage it derives from): the base image's default command runs instead. None otherwise."""
    path = workdir / dockerfile
    if not path.is_file() or has_command(path):
        return None
    base = final_base(base_images(path))
    name = base.image if base else "l'image de base"
    return (f"le Dockerfile n'a ni CMD ni ENTRYPOINT : le conteneur lance la commande par défaut de "
            f"{name}, `{default_command(sandbox, image)}`, et non votre application")


def settled_state(container) -> dict:
    try:
        container.reload()
        return container.attrs.get("State") or {}
    except docker.errors.NotFound:
        return {"Status": "removed"}


def not_serving(sandbox: Sandbox, container, port: int, *, workdir: Optional[Path] = None,
                image: str = "", dockerfile: str = "Dockerfile", logs: int = 8) -> tuple[str, str]:
    """``(observed, hint)`` in French: why ``container`` does not answer on ``port``."""
    from autograder.probes.containers import logs_tail

    lacking = missing_command(sandbox, workdir, image, dockerfile) if workdir and image else None
    state = settled_state(container)
    if state.get("Status") != "running":
        code = state.get("ExitCode")
        facts = [f"le conteneur s'est arrêté (code de sortie {code})"]
        if state.get("OOMKilled"):
            facts.append("tué faute de mémoire (OOMKilled)")
        if lacking:
            facts.append(lacking)
        observed = " ; ".join(facts) + f"\nDerniers journaux :\n{logs_tail(container, logs)}"
        if lacking:
            return observed, ("ajoutez la commande de démarrage en forme exec, par exemple "
                              '`CMD ["python", "app.py"]`.')
        return observed, ("lancez l'image avec `docker run` (sans -d) et corrigez l'erreur des journaux ; "
                          "l'application doit rester au premier plan (pas de `&`, pas de service lancé en "
                          "arrière-plan).")
    sockets = listening(sandbox, container)
    argv = pid1(sandbox, container)
    runs = f" (PID 1 : `{shown(argv)}`)" if argv else ""
    if sockets is None:
        return (f"le conteneur tourne{runs} mais ne répond pas sur le port {port} ; ses sockets en écoute "
                "ne sont pas lisibles (ni `cat` ni `python3` dans l'image)",
                f"vérifiez que l'application écoute sur 0.0.0.0, port {port}.")
    on_port = [s for s in sockets if s.port == port]
    if any(s.any for s in on_port):
        return (f"le conteneur écoute bien sur le port {port}{runs} mais la réponse attendue ne vient pas",
                "appelez la route vous-même (`curl -i`) et lisez les journaux de l'application.")
    if on_port:
        where = ", ".join(str(s) for s in on_port)
        return (f"l'application écoute sur {where} : l'adresse de bouclage n'est joignable que depuis "
                f"l'intérieur du conteneur{runs}",
                "faites-la écouter sur toutes les interfaces, 0.0.0.0 (par ex. `app.run(host=\"0.0.0.0\")` "
                "ou `flask run --host 0.0.0.0`).")
    if sockets:
        where = ", ".join(str(s) for s in sockets)
        loop = " (et seulement en local)" if all(s.loopback for s in sockets) else ""
        return (f"l'application écoute sur {where}{loop}, pas sur le port {port}{runs}",
                f"faites-la écouter sur 0.0.0.0, port {port} (variable PORT, option --port ou `-p`).")
    extra = f" ; {lacking}" if lacking else ""
    return (f"aucun port TCP en écoute dans le conteneur{runs}{extra}",
            'lancez le serveur au premier plan (`CMD ["python", "app.py"]`) et lisez ses journaux.'
            if lacking else "lisez les journaux (`docker logs`) : le serveur n'a pas démarré.")
