"""Leases of gradings in flight (autograder.engine.lease): no Docker needed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from autograder.engine import lease
from autograder.probes.waits import wait_until


@pytest.fixture
def folder(tmp_path, monkeypatch):
    where = tmp_path / "leases"
    monkeypatch.setenv(lease.DIR_ENV, str(where))
    return where


def write(folder, job, *, pid=None, host=None, age=0.0):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job}.json"
    path.write_text(json.dumps({"job": job, "pid": os.getpid() if pid is None else pid,
                                "host": socket.gethostname() if host is None else host, "started": time.time()}))
    if age:
        old = time.time() - age
        os.utime(path, (old, old))
    return path


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lease_dir_is_per_user_and_overridable(monkeypatch, tmp_path):
    monkeypatch.delenv(lease.DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert lease.lease_dir().name == f"autograder-leases-{os.getuid()}"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert lease.lease_dir() == tmp_path / "autograder-leases"
    monkeypatch.setenv(lease.DIR_ENV, str(tmp_path / "x"))
    assert lease.lease_dir() == tmp_path / "x"


def test_acquire_writes_a_live_lease_and_release_removes_it(folder):
    with lease.Lease("ag-0001") as held:
        assert held.path.is_file()
        info = lease.read(held.path)
        assert (info.job, info.pid, info.host) == ("ag-0001", os.getpid(), socket.gethostname())
        assert lease.live_jobs() == {"ag-0001"}
        assert (folder.stat().st_mode & 0o777) == 0o700
    assert not held.path.exists()
    assert lease.live_jobs() == set()


def test_the_last_lease_out_removes_the_default_folder_only(folder, monkeypatch, tmp_path):
    """A grading leaves nothing in the temporary folder (the course container's is under the
    repository): the default folder goes with the last lease; a folder named by
    AUTOGRADER_LEASE_DIR stays, and so does a folder still holding another grading's lease."""
    with lease.Lease("ag-0002"):
        pass
    assert folder.is_dir()  # named by AUTOGRADER_LEASE_DIR (the fixture)
    monkeypatch.delenv(lease.DIR_ENV)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    default = tmp_path / "autograder-leases"
    first, second = lease.Lease("ag-0003").acquire(), lease.Lease("ag-0004").acquire()
    first.release()
    assert default.is_dir() and lease.live_jobs() == {"ag-0004"}
    second.release()
    assert not default.exists()
    with lease.Lease("ag-0005") as again:  # and the next grading makes it again
        assert again.path.is_file()


def test_heartbeat_refreshes_the_file(folder):
    held = lease.Lease("ag-0002", heartbeat_s=0.05).acquire()
    try:
        old = time.time() - 3600
        os.utime(held.path, (old, old))
        wait_until(lambda: time.time() - held.path.stat().st_mtime < 60, 5)
        # A lease removed by someone who judged it stale is written again by the next beat.
        held.path.unlink()
        wait_until(held.path.is_file, 5)
        assert lease.read(held.path).job == "ag-0002"
    finally:
        held.release()
    assert not held.path.exists()


def test_dead_process_on_this_host_is_stale_and_pruned(folder):
    path = write(folder, "ag-dead", pid=dead_pid())
    write(folder, "ag-live")
    assert lease.live_jobs() == {"ag-live"}
    assert not path.exists()


def test_old_heartbeat_is_stale_even_for_a_live_pid(folder):
    path = write(folder, "ag-frozen", age=lease.STALE_S + 5)
    assert lease.live_jobs(prune=False) == set()
    assert path.exists()
    assert lease.live_jobs() == set()
    assert not path.exists()


def test_other_host_is_judged_by_its_heartbeat_only(folder):
    write(folder, "ag-elsewhere", pid=dead_pid(), host="autre-machine")
    write(folder, "ag-elsewhere-old", host="autre-machine", age=lease.STALE_S + 5)
    assert lease.live_jobs() == {"ag-elsewhere"}


def test_unreadable_lease_is_kept_while_fresh_and_pruned_when_old(folder):
    folder.mkdir()
    fresh = folder / "ag-half.json"
    fresh.write_text("{")
    old = folder / "ag-broken.json"
    old.write_text("not json")
    t = time.time() - lease.STALE_S - 5
    os.utime(old, (t, t))
    assert lease.live_jobs() == set()
    assert fresh.exists() and not old.exists()


def test_missing_folder_means_no_live_job(folder):
    assert lease.live_jobs() == set() and lease.leases() == []


def test_job_names_unfit_for_a_file_are_refused(folder):
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            lease.Lease(bad)


def test_a_lease_held_by_another_process_is_live_until_it_dies(folder):
    code = ("import sys, time; from autograder.engine.lease import Lease; l = Lease('ag-child').acquire(); "
            "print('ok', flush=True); sys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                            env={**os.environ, lease.DIR_ENV: str(folder)})
    try:
        assert proc.stdout.readline().strip() == "ok"
        assert lease.live_jobs() == {"ag-child"}
        proc.kill()  # SIGKILL: the lease file stays, its process is gone
        proc.wait(timeout=10)
        assert (folder / "ag-child.json").exists()
        assert lease.live_jobs() == set()
        assert not (folder / "ag-child.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
