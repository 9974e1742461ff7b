"""The Docker API allow-list proxy in front of the real daemon, driven by the real docker CLI."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from autograder.apiproxy import REFUSED_PREFIX, ApiProxy, Policy
from autograder.sandbox import JOB_LABEL, Sandbox

pytestmark = pytest.mark.docker


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
        with ApiProxy(policy, tmp_path / "docker.sock") as proxy:
            env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DOCKER_BUILDKIT": "0",
                   "DOCKER_HOST": f"unix://{proxy.path}"}

            def docker(*args):
                return subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=120)

            assert docker("version", "--format", "{{.Server.Version}}").returncode == 0
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
