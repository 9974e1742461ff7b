"""After the whole suite, nothing the grader created remains."""

import pytest

import conftest
from autograder.sandbox import leftovers


@pytest.mark.last
@pytest.mark.docker
def test_nothing_labelled_remains(docker_client):
    left = leftovers(docker_client)
    assert left == {"containers": [], "networks": [], "volumes": [], "images": []}


@pytest.mark.last
@pytest.mark.docker
def test_no_new_volume_remains(docker_client):
    """Anonymous volumes (an image's VOLUME) carry no label: compare with the session's start."""
    assert conftest.VOLUMES_AT_START is not None
    new = {v.name for v in docker_client.volumes.list()} - conftest.VOLUMES_AT_START
    assert new == set()
