"""Leases: which gradings are in flight, so that ``autograder clean`` never touches them.

Every :class:`autograder.engine.sandbox.Sandbox` holds a lease for its job from before it creates
anything in Docker until after its own sweep: a small JSON file ``<job>.json`` (job, pid, host
name, start time) in a per-user folder, whose modification time a daemon thread refreshes every
:data:`HEARTBEAT_S` seconds. ``clean`` (:func:`live_jobs`) keeps the objects of every job whose
lease is live and removes the rest; a lease is stale, and removed, when

* its grader ran on this host and its process is gone (a SIGKILL, a crash: no heartbeat can
  outlive it), or
* its heartbeat is older than :data:`STALE_S` (a grader on another host sharing the folder, a
  frozen or suspended process, a lease left by a reboot).

The lease is between grader processes, which share this machine's file system; the Docker engine
may be elsewhere (Docker Desktop, a remote engine): nothing here asks it anything. Two graders
on different machines talking to one engine do not see each other's leases unless
``AUTOGRADER_LEASE_DIR`` points both at one shared folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)

DIR_ENV = "AUTOGRADER_LEASE_DIR"
HEARTBEAT_S = 5.0
# A lease whose heartbeat is older than this is stale (12 missed beats: a very busy machine
# still beats in time, a killed or frozen grader does not).
STALE_S = 60.0
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def lease_dir() -> Path:
    """``$AUTOGRADER_LEASE_DIR``, else ``$XDG_RUNTIME_DIR/autograder-leases``, else
    ``<tmp>/autograder-leases-<uid>`` (private to the user: mode 0700)."""
    forced = os.environ.get(DIR_ENV, "").strip()
    if forced:
        return Path(forced)
    runtime = os.environ.get("XDG_RUNTIME_DIR", "").strip()
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "autograder-leases"
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"autograder-leases-{uid}"


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: the heartbeat alone tells
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class LeaseInfo:
    """One lease file as read back: whose job, and is it still live."""
    job: str
    pid: int
    host: str
    started: float
    beat: float  # the file's modification time: the last heartbeat

    def live(self, now: Optional[float] = None, host: Optional[str] = None) -> bool:
        now = time.time() if now is None else now
        here = socket.gethostname() if host is None else host
        if now - self.beat > STALE_S:
            return False
        if self.host == here:
            return _pid_alive(self.pid)
        return True


def read(path: Path) -> Optional[LeaseInfo]:
    """The lease in ``path``, or ``None`` when it is unreadable (half written, removed meanwhile);
    an unreadable lease whose file is old counts as stale through its job name alone."""
    try:
        beat = path.stat().st_mtime
        data = json.loads(path.read_text())
        return LeaseInfo(str(data["job"]), int(data["pid"]), str(data["host"]), float(data["started"]), beat)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def leases(folder: Optional[Path] = None) -> list[LeaseInfo]:
    """Every readable lease of ``folder`` (default :func:`lease_dir`)."""
    folder = folder or lease_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        info = read(path)
        if info is not None:
            found.append(info)
    return found


def live_jobs(folder: Optional[Path] = None, prune: bool = True) -> set[str]:
    """Jobs whose grading is in flight. With ``prune``, stale lease files are removed (and
    unreadable ones older than :data:`STALE_S`)."""
    folder = folder or lease_dir()
    live: set[str] = set()
    if not folder.is_dir():
        return live
    now = time.time()
    for path in sorted(folder.glob("*.json")):
        info = read(path)
        if info is not None and info.live(now):
            live.add(info.job)
            continue
        if prune and (info is not None or _older_than(path, now, STALE_S)):
            _unlink(path)
    return live


def _older_than(path: Path, now: float, seconds: float) -> bool:
    try:
        return now - path.stat().st_mtime > seconds
    except OSError:
        return False


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.debug("stale lease %s not removed: %s", path, exc)


class Lease:
    """The lease of one job: :meth:`acquire` writes it and starts the heartbeat, :meth:`release`
    stops the heartbeat and removes it. Also a context manager."""

    def __init__(self, job: str, folder: Optional[Path] = None, heartbeat_s: float = HEARTBEAT_S):
        if not JOB_NAME.match(job):
            raise ValueError(f"job name unfit for a lease file: {job!r}")
        self.job = job
        self.folder = folder or lease_dir()
        self.path = self.folder / f"{job}.json"
        self.heartbeat_s = heartbeat_s
        self._halt = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def acquire(self) -> "Lease":
        body = json.dumps({"job": self.job, "pid": os.getpid(), "host": socket.gethostname(),
                           "started": time.time()})
        # Written whole under a temporary name, then renamed: a reader never sees half a lease.
        tmp = self.folder / f".{self.job}.{os.getpid()}.tmp"
        for attempt in range(3):  # another grading's release may remove the empty folder meanwhile
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                tmp.write_text(body)
                os.replace(tmp, self.path)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.job}", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._halt.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                # Removed by someone who judged it stale (a frozen grader that woke up): write it again.
                try:
                    self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                    self.path.write_text(json.dumps({"job": self.job, "pid": os.getpid(),
                                                     "host": socket.gethostname(), "started": time.time()}))
                except OSError as exc:
                    log.debug("lease %s not rewritten: %s", self.job, exc)
            except OSError as exc:
                log.debug("lease %s heartbeat failed: %s", self.job, exc)

    def release(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.heartbeat_s)
        _unlink(self.path)
        # The last lease out removes the default folder, so that a grading leaves nothing in the
        # temporary folder (the course container's is under the repository); a folder named by
        # AUTOGRADER_LEASE_DIR is the administrator's and stays.
        if not os.environ.get(DIR_ENV, "").strip() and self.folder == lease_dir():
            try:
                self.folder.rmdir()
            except OSError:  # not empty: other gradings in flight
                pass

    def __enter__(self) -> "Lease":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
