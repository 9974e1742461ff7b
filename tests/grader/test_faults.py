"""Faults during grading: Ctrl-C, SIGTERM, a killed grader, the Docker daemon lost mid-way,
and two gradings at once. Everything is removed, by the grader or by `clean`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from autograder.engine import lease
from autograder.notebook import NAME_RE
from autograder.probes.waits import wait_until
from autograder.engine.docker_api import JOB_LABEL, leftovers
from cases import ROOT, SANDBOX, SOLUTIONS, sandbox_cases

pytestmark = pytest.mark.docker

LAB02 = SOLUTIONS / "02-volumes-persistance"
NOTHING = {"containers": [], "networks": [], "volumes": [], "images": []}


def grader(folder, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", "check", str(folder), "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def job_of(proc) -> str | None:
    """The job of the grader ``proc``, from its lease (autograder.engine.lease): other gradings may run
    beside this test (`make stress`, other sessions on the engine); only this one's objects count."""
    return next((i.job for i in lease.leases() if i.pid == proc.pid), None)


def wait_for_running_stack(client, proc, timeout=120) -> str:
    """Wait until a container of ``proc``'s grading runs; its job."""
    def running():
        job = job_of(proc)
        return job if job and client.containers.list(filters={"label": f"{JOB_LABEL}={job}",
                                                              "status": "running"}) else None
    return wait_until(running, timeout, give_up=lambda: proc.poll() is not None and "the grader ended")


def clean() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "clean"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_grader_removes_everything(signum, docker_client):
    before = {v.name for v in docker_client.volumes.list()}
    proc = grader(LAB02)
    try:
        job = wait_for_running_stack(docker_client, proc)  # the stack is up, PostgreSQL holds data
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrompue" in err and "Traceback" not in err
    assert leftovers(docker_client, job) == NOTHING
    # The chapter notebooks (nbval, running beside this test in `make test`) make their own `cours-…`
    # volumes, and anonymous ones while their containers run (`docker run postgres:17`): a volume the
    # grading left behind is a new one that no container uses (containers listed before and after
    # the volumes, so a container created or removed meanwhile is seen).
    assert unused_new_volumes(docker_client, before) == set()


def unused_new_volumes(client, before: set) -> set:
    def in_use() -> set:
        # ignore_removed: a container removed between the listing and its inspect (a notebook's
        # `docker run --rm` beside this test) is skipped, not a 404.
        return {m.get("Name") for c in client.containers.list(all=True, ignore_removed=True)
                for m in c.attrs.get("Mounts", []) if m.get("Type") == "volume"}
    used = in_use()
    new = {v.name for v in client.volumes.list() if not NAME_RE.match(v.name)} - before
    still = {v.name for v in client.volumes.list()}
    return (new & still) - used - in_use()


def test_killed_grader_leaves_what_clean_removes(docker_client):
    proc = grader(LAB02)
    try:
        job = wait_for_running_stack(docker_client, proc)
        proc.kill()  # SIGKILL: no cleanup can run
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert leftovers(docker_client, job)["containers"], "the killed grader should have left its stack"
    done = clean()  # its lease is stale (its process is gone): clean takes its objects
    assert done.returncode == 0 and "Supprimé" in done.stderr, done.stderr
    assert job not in done.stderr, done.stderr
    assert leftovers(docker_client, job) == NOTHING
    assert not (lease.lease_dir() / f"{job}.json").exists()


class DaemonProxy:
    """A unix socket forwarding to the Docker daemon, which the test can cut: to the grader,
    the daemon has gone away (the containers it started keep running on the real one)."""

    def __init__(self, path: str, target: str = "/var/run/docker.sock"):
        self.path, self.target = path, target
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(64)
        self.conns: list[socket.socket] = []
        self.cut = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.cut.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self.cut.set()
        self.server.close()
        os.unlink(self.path)
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def test_daemon_lost_mid_grading(tmp_path, docker_client):
    proxy = DaemonProxy(str(tmp_path / "docker.sock"))
    proc = grader(LAB02, {"DOCKER_HOST": f"unix://{proxy.path}"})
    try:
        job = wait_for_running_stack(docker_client, proc)
        proxy.stop()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "Docker a cessé de répondre" in err
    result = json.loads(out)
    assert result["incomplete"] is True
    assert any(c["status"] == "error" and "Docker" in c["message"] for c in result["checks"])
    assert any("python -m autograder clean" in n for n in result["notes"])
    # What the grader could not remove, `clean` removes once Docker answers again.
    assert leftovers(docker_client, job)["containers"]
    assert clean().returncode == 0
    assert leftovers(docker_client, job) == NOTHING


def test_two_gradings_at_once_do_not_interfere(tmp_path):
    """Fixed container names, a fixed host port and fixed volume/network names, graded twice at
    once: both get the same report as a grading alone (full marks, see test_sandbox)."""
    case = next(c for c in sandbox_cases("full") if c.variant.name == "fixed-names-and-ports")
    folders = [case.materialise(tmp_path / str(i)) for i in range(2)]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda f: subprocess.run(
            [sys.executable, "-m", "autograder", "check", str(f), "--json"], cwd=ROOT,
            capture_output=True, text=True, timeout=600), folders))
    reports = [json.loads(r.stdout) for r in runs]
    for run, report in zip(runs, reports):
        assert run.returncode == 0, json.dumps(report, ensure_ascii=False, indent=1)
        assert report["score"] == report["max_score"]
    statuses = [{c["id"]: c["status"] for c in r["checks"]} for r in reports]
    assert statuses[0] == statuses[1]


def test_clean_during_a_grading_leaves_it_intact(tmp_path, docker_client):
    """`autograder clean` run again and again while a grading is in flight (as in `make test`'s
    second phase, or an instructor cleaning while `make grade` runs): the grading's lease keeps its
    objects, clean says so, and the grading gets full marks. With the grader's lease folder hidden
    from clean, clean removes the grading's containers, network and image in flight (observed:
    01-http-health, 01-non-root and 01-exec-form lost, or 01-build in error with the classic builder)."""
    folder = tmp_path / "01-images-conteneurs"
    shutil.copytree(SOLUTIONS / "01-images-conteneurs", folder)
    proc = grader(folder)
    try:
        def running_job():
            jobs = {i.job for i in lease.leases() if i.pid == proc.pid}
            return next((c.labels[JOB_LABEL] for c in docker_client.containers.list(filters={"label": JOB_LABEL})
                         if c.labels.get(JOB_LABEL) in jobs and c.status == "running"), None)

        job = wait_until(running_job, 120, give_up=lambda: proc.poll() is not None and "the grader ended")
        cleans = [clean()]  # then again and again until the grading ends: every step meets one
        while proc.poll() is None:
            cleans.append(clean())
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    for done in cleans:
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    kept = [d.stderr for d in cleans if re.search(r"\d+ corrections? en cours laissées? intactes?", d.stderr)]
    assert kept and job in kept[0], [d.stderr for d in cleans]
    report = json.loads(out)
    assert proc.returncode == 0, json.dumps(report, ensure_ascii=False, indent=1)
    assert report["score"] == report["max_score"]
    assert leftovers(docker_client, job) == NOTHING
    assert not (lease.lease_dir() / f"{job}.json").exists()
