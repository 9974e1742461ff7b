import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def pytest_collection_modifyitems(config, items):
    """The leftovers test runs last, whatever order the files were collected in."""
    last = [i for i in items if i.get_closest_marker("last")]
    for item in last:
        items.remove(item)
        items.append(item)


VOLUMES_AT_START: set[str] | None = None
# `make test` runs the suite in two pytest sessions (the lab gradings on parallel workers, then the
# rest, the leftovers test last). This file, named by the Makefile, carries the first session's
# volume snapshot to the second, so volumes leaked by the parallel phase are still found.
SNAPSHOT_ENV = "AUTOGRADER_TEST_VOLUMES_SNAPSHOT"
PYTHON_LATEST_EXISTED: bool | None = None


def is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session):
    """Remember the volumes that existed before the suite (anonymous ones carry no label), and
    whether `python:latest` existed (the mutant tests may alias it)."""
    global VOLUMES_AT_START, PYTHON_LATEST_EXISTED
    snapshot = os.environ.get(SNAPSHOT_ENV)
    try:
        import docker

        client = docker.from_env(timeout=10)
        VOLUMES_AT_START = {v.name for v in client.volumes.list()}
        PYTHON_LATEST_EXISTED = bool(client.images.list(name="python:latest"))
    except Exception:  # noqa: BLE001 - no Docker: the docker tests will say so
        VOLUMES_AT_START = None
    if snapshot and Path(snapshot).is_file():
        VOLUMES_AT_START = set(json.loads(Path(snapshot).read_text()))
    elif snapshot and VOLUMES_AT_START is not None and not is_xdist_worker(session.config):
        Path(snapshot).parent.mkdir(parents=True, exist_ok=True)
        Path(snapshot).write_text(json.dumps(sorted(VOLUMES_AT_START)))


def pytest_sessionfinish(session, exitstatus):
    """Under xdist the workers never remove the `python:latest` alias they share: the controller
    does, when it did not exist before the session."""
    if is_xdist_worker(session.config) or PYTHON_LATEST_EXISTED is not False:
        return
    try:
        import docker

        from autograder.engine.lease import live_jobs

        client = docker.from_env(timeout=10)
        # Another session's grading in flight may build `FROM python:latest` on this alias: its
        # removal made such a build fail (a pull, offline); the alias is then left (a tag, no image).
        if client.images.list(name="python:latest") and not live_jobs():
            client.images.remove("python:latest", noprune=True)
    except Exception:  # noqa: BLE001 - best effort; the leftovers test does not look at tags
        pass


def pytest_configure(config):
    config.addinivalue_line("markers", "last: run after every other test")


@pytest.fixture(scope="session")
def docker_client():
    from autograder.core import GraderUnavailable
    from autograder.engine.docker_api import docker_client as make_client

    try:
        return make_client()
    except GraderUnavailable as exc:
        pytest.fail(f"Docker is required for this test: {exc.en}")


@pytest.fixture(scope="session")
def python_latest_alias(docker_client, request):
    """`FROM python:latest` mutants must build offline too: alias it to the course image if absent.
    Under xdist the workers share the alias; the controller removes it (conftest)."""
    created = False
    try:
        docker_client.images.get("python:latest")
    except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound
        docker_client.images.get("python:3.13-slim").tag("python", "latest")
        created = True
    yield
    if created and not is_xdist_worker(request.config):
        from autograder.engine.lease import live_jobs

        if not live_jobs():  # see pytest_sessionfinish
            docker_client.images.remove("python:latest", noprune=True)
