"""After the whole suite, nothing carrying the grader's job label remains."""

import pytest

from autograder.sandbox import leftovers


@pytest.mark.last
@pytest.mark.docker
def test_nothing_labelled_remains(docker_client):
    left = leftovers(docker_client)
    assert left == {"containers": [], "networks": [], "volumes": [], "images": []}
