"""The Docker API allow-list proxy in front of the real daemon, driven by the real docker CLI, and
reached the way a student's script reaches it (autograder.probes.scripts)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from autograder.probes import scripts
from autograder.engine.apiproxy_http import REFUSED_PREFIX
from autograder.engine.apiproxy import ApiProxy
from autograder.engine.apiproxy_policy import Policy
from autograder.engine.docker_api import JOB_LABEL
from autograder.engine.sandbox import Sandbox

pytestmark = pytest.mark.docker


def cli_env(tmp_path, proxy: ApiProxy, token: bool = True) -> dict:
    config = tmp_path / ("with-token" if token else "without-token")
    config.mkdir(exist_ok=True)
    (config / "config.json").write_text(json.dumps({"HttpHeaders": proxy.http_headers} if token else {}))
    host, port = proxy.address
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DOCKER_BUILDKIT": "0",
            "DOCKER_CONFIG": str(config), "DOCKER_HOST": f"tcp://{host}:{port}"}


def test_forbidden_calls_are_refused_and_builds_are_labelled_and_swept(tmp_path, docker_client):
    cli = shutil.which("docker")
    assert cli, "the docker CLI is needed"
    base_before = docker_client.images.get("python:3.13-slim").id
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text('FROM python:3.13-slim\nLABEL org.4data.test="apiproxy"\n')
    with Sandbox() as sandbox:
        job = sandbox.job
        policy = Policy(registries=("127.0.0.1:1",), labels=dict(sandbox.labels), namespace=job)
        with ApiProxy(policy, "127.0.0.1") as proxy:
            env = cli_env(tmp_path, proxy)

            def docker(*args, environ=env):
                return subprocess.run([cli, *args], env=environ, capture_output=True, text=True, timeout=120)

            assert docker("version", "--format", "{{.Server.Version}}").returncode == 0
            # the same CLI without the job's token is refused, whatever it asks
            anonymous = docker("version", "--format", "{{.Server.Version}}", environ=cli_env(tmp_path, proxy, False))
            assert anonymous.returncode != 0 and "jeton" in anonymous.stderr, anonymous.stderr
            for args in (["ps"], ["run", "--privileged", "--rm", "python:3.13-slim", "true"],
                         ["volume", "ls"], ["push", "localhost:5000/x:1"]):
                done = docker(*args)
                assert done.returncode != 0 and REFUSED_PREFIX.strip() in done.stderr, (args, done.stderr)
            built = docker("build", "-q", "-t", "probe:dev", str(context))
            assert built.returncode == 0, built.stderr
            # a script may not overwrite a base image of the host: the tag lands in its namespace
            assert docker("tag", "probe:dev", "python:3.13-slim").returncode == 0
            assert docker_client.images.get("python:3.13-slim").id == base_before
            image = docker_client.images.get(f"{job}/probe:dev")
            assert image.labels.get(JOB_LABEL) == job and image.labels.get("org.4data.test") == "apiproxy"
            assert f"{job}/python:3.13-slim" in docker_client.images.get(image.id).tags
            assert any("/containers/create" in r for r in proxy.refused)
    leftover = [t for i in docker_client.images.list() for t in i.tags if t.startswith(job + "/")]
    assert leftover == [] and not docker_client.images.list(filters={"label": f"{JOB_LABEL}={job}"})
    assert docker_client.images.get("python:3.13-slim").id == base_before


# A client in a container: one `_ping` with the token, prints the HTTP status line or what failed.
PING = r"""
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.sendall(("GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Autograder-Token: %s\r\n\r\n" % sys.argv[3]).encode())
    print((s.recv(100).split(b"\r\n")[0] or b"closed").decode())
except OSError as exc:
    print("unreachable", type(exc).__name__)
"""


def test_the_proxy_serves_the_script_network_only(docker_client):
    """Where the script container reaches the proxy from (its own network, `host.docker.internal`),
    a container of another network, token in hand, gets nothing."""
    with Sandbox() as sandbox:
        where = scripts.endpoint(sandbox)
        policy = Policy(registries=("127.0.0.1:1",), labels=dict(sandbox.labels), namespace=sandbox.job)
        with ApiProxy(policy, where.bind, peers=list(where.peers) if where.peers else None) as proxy:
            port = proxy.address[1]

            def ping(suffix, **kwargs):
                c = sandbox.run("python:3.13-slim", suffix=suffix, command=["python", "-c", PING,
                                scripts.PROXY_NAME, str(port), proxy.token], **kwargs)
                assert c.wait(timeout=60)["StatusCode"] == 0
                return c.logs().decode().strip()

            assert ping("inside", network=where.network, extra_hosts=dict(where.extra_hosts)) == "HTTP/1.1 200 OK"
            if where.peers is None:
                pytest.skip("Docker Desktop-like engine: the script network's addresses are not the grader's")
            # same name, same address, same token, from the job's other network
            outside = ping("outside", network=sandbox.network(), extra_hosts=dict(where.extra_hosts))
            assert outside == "closed" or outside.startswith("unreachable"), outside
            assert any("hors du réseau" in r for r in proxy.refused)
