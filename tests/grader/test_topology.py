"""The grader in the Docker Desktop topology: it shares no kernel socket, no network and no files
with the engine, except the submission.

On macOS and Windows the grader runs on the host while the engine runs in Docker Desktop's Linux
VM: the grader reaches the engine over a socket forwarded by Docker Desktop, published ports on the
host's loopback, and folders that Docker Desktop shares (the macOS temporary folders among them);
nothing the grader writes elsewhere, no host unix socket and no host binary reaches a container.
Here the same separation is built with containers of the host's engine:

* a **relay** container, the only one that sees the engine's socket, serves it as
  ``tcp://relay:2375`` on a dedicated, labelled network without outside access;
* the **grader** container (the course's ``python:3.13-slim``, the repository's ``autograder``
  package, its Python dependencies pinned in requirements.txt installed from a wheelhouse that
  ``pip download`` builds on the host for CPython 3.13 and the engine's architecture — the host
  venv's Python may be another minor version — and the docker CLI with Compose from the course
  image ``docker:28-cli``) joins that network only, with ``DOCKER_HOST=tcp://relay:2375``;
* it shares with the engine only the submissions (read-only) and its working folder, mounted at
  the same path (``TMPDIR``): Compose bind mounts of the submission (lab 08's ``./initdb``) name
  paths of the grader's copy, which the engine must see, as Docker Desktop shares the macOS
  temporary folders;
* the grader reaches published ports at ``AUTOGRADER_ENGINE_HOST``, the engine host's address on
  the dedicated network (the network's gateway), where the grader's ports are then published too;
* students' scripts (labs 04 and 08) reach the API proxy inside the grader's container, which the
  grader finds itself (``/.dockerenv`` and its hostname) and joins to each job's script network.

Labs 01, 04 and 08 (the latter two run students' scripts) must get full marks. Everything is
labelled and swept.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from autograder.probes.waits import wait_until
from autograder.engine.sandbox import Sandbox
from autograder.probes.scripts import CLI_IMAGE, RUNNER_IMAGE
from cases import ROOT, SOLUTIONS

pytestmark = [pytest.mark.docker, pytest.mark.network]

LABS = ("01-images-conteneurs", "04-registre", "08-postgres-sql")
# What `python -m autograder check` imports at run time, pinned in requirements.txt.
# testcontainers: the containers the grader starts and its readiness waits (autograder/engine/containers.py).
GRADER_REQUIREMENTS = {"docker", "dockerfile-parse", "rich", "pyyaml", "psutil", "testcontainers"}
WHEELHOUSE = ROOT / "build" / "topology"
GRADE_TIMEOUT_S = 420

# The relay: the engine's socket served on TCP, half-closes passed on (hijacked `exec` streams).
RELAY = r"""
import asyncio

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        writer.close()

async def handle(client_r, client_w):
    try:
        engine_r, engine_w = await asyncio.open_unix_connection("/var/run/docker.sock")
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, engine_w), pipe(engine_r, client_w))
    client_w.close()
    engine_w.close()

async def main():
    server = await asyncio.start_server(handle, "0.0.0.0", 2375)
    print("relais prêt", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""

GRADER_DOCKERFILE = f"""\
FROM {CLI_IMAGE} AS cli
FROM {RUNNER_IMAGE}
COPY --from=cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=cli /usr/local/libexec/docker/cli-plugins/ /usr/local/libexec/docker/cli-plugins/
COPY wheels/ /tmp/wheels/
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-index --no-cache-dir --disable-pip-version-check --find-links /tmp/wheels \\
        -r /tmp/requirements.txt && rm -rf /tmp/wheels
COPY grader/ /opt/grader/
ENV PYTHONPATH=/opt/grader PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/grader
"""


def grader_requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    wanted = []
    for line in lines:
        name = line.split("#", 1)[0].split(";", 1)[0].split("==", 1)[0].strip().lower()
        if name in GRADER_REQUIREMENTS:
            wanted.append(line.split("#", 1)[0].split(";", 1)[0].strip())
    assert len(wanted) == len(GRADER_REQUIREMENTS), wanted
    return wanted


def wheelhouse(requirements: list[str], machine: str) -> Path:
    """Wheels for CPython 3.13 on the engine's architecture, downloaded once on the host."""
    key = hashlib.sha256("\n".join([machine, *requirements]).encode()).hexdigest()[:12]
    folder = WHEELHOUSE / f"wheels-{key}"
    if (folder / "complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    platforms = [f"manylinux2014_{machine}", f"manylinux_2_17_{machine}", f"manylinux_2_28_{machine}"]
    args = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--dest", str(folder),
            "--only-binary=:all:", "--python-version", "3.13", "--implementation", "cp",
            *[a for p in platforms for a in ("--platform", p)], *requirements]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"pip download failed (PyPI unreachable?):\n{done.stderr[-2000:]}")
    (folder / "complete").write_text("\n".join(requirements))
    return folder


def build_grader(client, sandbox: Sandbox, wheels: Path, requirements: list[str], tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="topologie-") as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(GRADER_DOCKERFILE)
        (ctx / "requirements.txt").write_text("\n".join(requirements) + "\n")
        shutil.copytree(wheels, ctx / "wheels")
        shutil.copytree(ROOT / "autograder", ctx / "grader" / "autograder",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (ctx / "grader" / "docker").mkdir()
        shutil.copy(ROOT / "docker" / "images.txt", ctx / "grader" / "docker" / "images.txt")
        try:
            client.images.build(path=str(ctx), tag=tag, labels=dict(sandbox.labels), rm=True, forcerm=True,
                                pull=False, timeout=300)
        except docker.errors.BuildError as exc:
            log = "".join(str(c.get("stream") or c.get("error") or "") for c in exc.build_log)
            pytest.fail(f"the grader image did not build: {exc}\n{log[-3000:]}")


def engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        pytest.skip("the relay needs the engine's unix socket (DOCKER_HOST is not a unix socket)")
    return host[len("unix://"):] if host else "/var/run/docker.sock"


def test_grader_in_a_container_reaching_the_engine_over_tcp(docker_client, monkeypatch):
    # This test's own sandbox holds the grader's container: its disk guard would count the whole
    # machine's writes (other tests building beside it) and kill the grader mid-grading; the
    # grader inside keeps its own guard, read through the engine.
    monkeypatch.setenv("AUTOGRADER_DISK_LIMIT_MB", "0")
    started = time.monotonic()
    socket_path = engine_socket()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(docker_client.info().get("Architecture", ""),
                                                         docker_client.info().get("Architecture") or platform.machine())
    requirements = grader_requirements()
    wheels = wheelhouse(requirements, machine)
    shared = Path(tempfile.mkdtemp(prefix="ag-topologie-"))
    os.chmod(shared, 0o755)
    try:
        with Sandbox() as sandbox:
            tag = f"{sandbox.job}-grader:topology"
            build_grader(docker_client, sandbox, wheels, requirements, tag)
            # A plain bridge: from a network without masquerading, the engine host's published ports
            # (DNAT to a container of another network) do not answer.
            net = docker_client.networks.create(sandbox.name("topologie"), driver="bridge", labels=sandbox.labels)
            net.reload()
            gateway = net.attrs["IPAM"]["Config"][0]["Gateway"]
            relay = sandbox.run(RUNNER_IMAGE, suffix="relais", command=["python", "-c", RELAY],
                                network=net.name, volumes={socket_path: {"bind": "/var/run/docker.sock", "mode": "rw"}},
                                user="0:0", cap_drop=["ALL"], security_opt=["no-new-privileges"], read_only=True)
            wait_until(lambda: "relais prêt" in relay.logs().decode("utf-8", "replace"), 30)
            relay.reload()
            relay_ip = relay.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]

            submissions, work = shared / "soumissions", shared / "travail"
            work.mkdir()
            for lab in LABS:
                shutil.copytree(SOLUTIONS / lab, submissions / lab)
            grader = sandbox.run(
                tag, suffix="correcteur", network=net.name,
                command=["python", "-m", "autograder", "check", "--json", *[str(submissions / lab) for lab in LABS]],
                environment={"DOCKER_HOST": f"tcp://{relay_ip}:2375", "AUTOGRADER_ENGINE_HOST": gateway,
                             "TMPDIR": str(work)},
                volumes={str(submissions): {"bind": str(submissions), "mode": "ro"},
                         str(work): {"bind": str(work), "mode": "rw"}},
                mem_limit="1g", memswap_limit="1g")
            try:
                status = grader.wait(timeout=GRADE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - requests' read timeout: stop it, cleanup included
                grader.stop(timeout=60)
                pytest.fail(f"the grader ran past {GRADE_TIMEOUT_S} s:\n"
                            f"{grader.logs(tail=60).decode('utf-8', 'replace')}")
            out = grader.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            err = grader.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            reports = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            grader.reload()
            assert reports or status["StatusCode"] == 0, (status, sandbox.stopped, err[-3000:])
            failed = [c for r in reports for c in r["checks"] if c["status"] != "passed"]
            assert not failed, json.dumps(failed, ensure_ascii=False, indent=1) + "\n" + err[-3000:]
            assert [r["lab"] for r in reports] == list(LABS), f"{out[-2000:]}\n{err[-3000:]}"
            assert all(r["score"] == r["max_score"] for r in reports)
            assert status["StatusCode"] == 0, err[-3000:]
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert time.monotonic() - started < GRADE_TIMEOUT_S + 120
