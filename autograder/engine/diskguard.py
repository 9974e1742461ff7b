"""The disk guard: what one grading may add to the Docker host's disk, measured while it runs (the
engine's own disk, or a probe container's on a remote engine), and the grading stopped beyond it."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
from typing import TYPE_CHECKING, Optional

import docker
import docker.errors
import requests.exceptions

from autograder.engine.docker_api import JOB_LABEL, LOG_CONFIG, _safe

if TYPE_CHECKING:  # pragma: no cover - the sandbox starts the guard
    from autograder.engine.sandbox import Sandbox

log = logging.getLogger(__name__)


# What one grading may add to the disk of the Docker host (image layers, container writes)
# before the grader stops it; AUTOGRADER_DISK_LIMIT_MB overrides it.
DISK_LIMIT_MB = 4096


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
