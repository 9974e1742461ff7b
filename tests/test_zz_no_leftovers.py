"""After the whole suite, nothing the grader created remains."""

import pytest

import conftest
from autograder.engine.docker_api import leftovers


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


@pytest.mark.last
@pytest.mark.docker
def test_chapter_notebooks_left_nothing(docker_client):
    """The chapter notebooks name what they create `cours-…` (images `cours-…`/`cours/…`) and clean up."""
    from autograder.notebook import IMAGE_RE, NAME_RE

    left = {
        "containers": [c.name for c in docker_client.containers.list(all=True) if NAME_RE.match(c.name)],
        "networks": [n.name for n in docker_client.networks.list() if NAME_RE.match(n.name)],
        "volumes": [v.name for v in docker_client.volumes.list() if NAME_RE.match(v.name)],
        "images": [t for i in docker_client.api.images() for t in (i.get("RepoTags") or ())
                   if IMAGE_RE.search(t.rsplit(":", 1)[0])],
    }
    assert left == {"containers": [], "networks": [], "volumes": [], "images": []}
