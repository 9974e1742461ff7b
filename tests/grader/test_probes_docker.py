"""Shared probes against real containers; testcontainers provides the throwaway PostgreSQL."""

from __future__ import annotations

import pytest

from autograder.probes.containers import stop_duration, user_id
from autograder.probes.postgres import pg_credentials, pg_has_token, pg_write_token, psql, wait_pg_ready
from autograder.engine.sandbox import Sandbox

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def postgres():
    from testcontainers.community.postgres import PostgresContainer

    with PostgresContainer("postgres:17", username="meteo", password="secret", dbname="mesures") as pg:
        yield pg


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox() as box:
        yield box


def test_pg_probes_follow_the_official_contract(postgres, sandbox):
    raw = postgres.get_wrapped_container()
    assert pg_credentials(sandbox, raw) == ("meteo", "mesures")
    wait_pg_ready(sandbox, raw, timeout=60)
    assert psql(sandbox, raw, "SELECT current_user || '@' || current_database()") == "meteo@mesures"
    value = pg_write_token(sandbox, raw)
    assert pg_has_token(sandbox, raw, value) and not pg_has_token(sandbox, raw, "absent")


def test_container_probes(postgres, sandbox):
    raw = postgres.get_wrapped_container()
    assert user_id(sandbox, raw) == 0  # `docker exec` runs as the image's user: root for postgres
    assert stop_duration(raw, grace=10) < 5  # postgres handles SIGINT/SIGTERM as PID 1
