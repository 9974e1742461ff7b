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


def pytest_sessionstart(session):
    """Remember the volumes that existed before the suite (anonymous ones carry no label)."""
    global VOLUMES_AT_START
    try:
        import docker

        VOLUMES_AT_START = {v.name for v in docker.from_env(timeout=10).volumes.list()}
    except Exception:  # noqa: BLE001 - no Docker: the docker tests will say so
        VOLUMES_AT_START = None


def pytest_configure(config):
    config.addinivalue_line("markers", "last: run after every other test")


@pytest.fixture(scope="session")
def docker_client():
    from autograder.core import GraderUnavailable
    from autograder.sandbox import docker_client as make_client

    try:
        return make_client()
    except GraderUnavailable as exc:
        pytest.fail(f"Docker is required for this test: {exc.en}")
