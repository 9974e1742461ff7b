"""A second Docker engine on this host, for tests that must not touch the shared one.

:class:`SecondEngine` starts the host's ``dockerd`` with its own data root, exec root (hence its
own managed containerd), pid file and unix socket, all under one short temporary folder, and
waits for it with a deadline; :meth:`SecondEngine.stop` always stops it and removes its folders.

Networking never touches the first engine's: the second daemon runs with ``--iptables=false``
(a daemon that manages iptables flushes the ``DOCKER`` chains at start, which would break the
first engine's published ports) and with its own default bridge, a Linux bridge made here, so
that ``RUN`` steps (apt, pip) reach the network. The helper adds the three iptables rules that
bridge needs (forward in and out, masquerade) and removes them, the bridge and everything else
in ``stop``. Networks the second engine creates come from an address pool of its own, checked
against the host's routes.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional

from autograder.probes.waits import Timeout, wait_until

START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 60
# (default bridge, pool of user-defined networks, /24 each) of a second engine: the first pair the
# host routes nowhere yet, so that several second engines may run side by side.
NETWORKS = [(f"10.{k}.255.0/24", f"10.{k}.0.0/17") for k in range(213, 221)]


class EngineError(RuntimeError):
    pass


def _run(*args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise EngineError(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def host_routes() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks the host routes somewhere already (its bridges among them)."""
    out = _run("ip", "-4", "route", "show").stdout
    nets = []
    for line in out.splitlines():
        word = line.split()[0] if line.split() else ""
        if word and word != "default":
            try:
                nets.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                pass
    return nets


def dockerd_available() -> Optional[str]:
    """Why a second engine cannot start here, or None."""
    if os.name != "posix" or os.geteuid() != 0:
        return "a second dockerd needs root"
    for tool in ("dockerd", "ip", "iptables"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} not found"
    return None


class SecondEngine:
    """``with SecondEngine("arm64") as engine:`` — ``engine.env`` holds its ``DOCKER_HOST``."""

    def __init__(self, name: str = "second", *, start_timeout: float = START_TIMEOUT_S):
        self.name = name
        self.bridge_net = self.pool = None
        self.start_timeout = start_timeout
        token = uuid.uuid4().hex[:6]
        # Short path: unix sockets (the engine's and its containerd's) must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix=f"eng-{token}-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.bridge = f"eng{token}"  # interface names: 15 characters at most
        self.log = self.root / "dockerd.log"
        self.proc: Optional[subprocess.Popen] = None
        self._rules: list[list[str]] = []
        self._bridge_made = False

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of a docker CLI / docker-py / grader talking to this engine."""
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, timeout: float = 60, check: bool = True, env: Optional[dict] = None,
               **kw) -> subprocess.CompletedProcess:
        """The docker CLI against this engine (``env``: extra variables)."""
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})}, **kw)
        if check and proc.returncode != 0:
            raise EngineError(f"docker {' '.join(args)}: {proc.stderr.strip()[-2000:]}")
        return proc

    # -- start ------------------------------------------------------------------------------
    def __enter__(self) -> "SecondEngine":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        routes = host_routes()
        for bridge_net, pool in NETWORKS:
            nets = ipaddress.ip_network(bridge_net), ipaddress.ip_network(pool)
            if not any(r.overlaps(n) for r in routes for n in nets):
                self.bridge_net, self.pool = nets
                break
        else:
            raise EngineError(f"every candidate network is routed already: {NETWORKS}")
        gateway = next(self.bridge_net.hosts())
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        self._bridge_made = True
        _run("ip", "addr", "add", f"{gateway}/{self.bridge_net.prefixlen}", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for net in (self.bridge_net, self.pool):
            self._rule("filter", "FORWARD", "-s", str(net), "-j", "ACCEPT")
            self._rule("filter", "FORWARD", "-d", str(net), "-j", "ACCEPT")
            self._rule("nat", "POSTROUTING", "-s", str(net), "!", "-d", str(net), "-j", "MASQUERADE")
        for sub in ("data", "exec"):
            (self.root / sub).mkdir()
        args = ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                "--pidfile", str(self.root / "docker.pid"), "--host", self.host,
                "--bridge", self.bridge, "--iptables=false", "--ip-masq=false",
                "--default-address-pool", f"base={self.pool},size=24", "--storage-driver", "overlay2"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

        def up() -> bool:
            return self.socket.exists() and self.docker("info", "-f", "{{.ID}}", timeout=10,
                                                        check=False).returncode == 0

        def died() -> Optional[str]:
            if self.proc.poll() is not None:
                return f"dockerd exited with {self.proc.returncode}:\n{self.log_tail()}"
            return None

        try:
            wait_until(up, self.start_timeout, give_up=died)
        except Timeout as exc:
            raise EngineError(f"the {self.name} engine did not answer within {self.start_timeout} s: "
                              f"{exc}\n{self.log_tail()}") from exc

    def _rule(self, table: str, chain: str, *spec: str) -> None:
        _run("iptables", "-w", "-t", table, "-I", chain, *spec)
        self._rules.append(["-t", table, "-D", chain, *spec])

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- stop -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the engine (its containers first), then remove its rules, bridge and folders."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                ids = self.docker("ps", "-aq", timeout=30, check=False).stdout.split()
                if ids:
                    self.docker("rm", "-f", "-v", *ids, timeout=120, check=False)
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(30)
        finally:
            for rule in reversed(self._rules):
                _run("iptables", "-w", *rule, check=False)
            self._rules.clear()
            if self._bridge_made:
                _run("ip", "link", "del", self.bridge, check=False)
                self._bridge_made = False
            self._remove_root()

    def _remove_root(self) -> None:
        # overlay mounts or netns files a killed daemon may leave under its folders
        deadline = time.monotonic() + 30
        prefix = f"{self.root}/"
        while True:
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                      if line.split()[1].startswith(prefix)]
            if not mounts or time.monotonic() > deadline:
                break
            for mnt in sorted(mounts, reverse=True):
                _run("umount", "-l", mnt, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
