"""Labs 02 and 03, without Docker: checks judged on their subject (« rien à évaluer encore » while
it is absent), every problem of a check listed, the healthcheck read the way Docker runs it.

Written from the instructions (enonce.ipynb's contract), on Compose's canonical form."""

from __future__ import annotations

import pytest

from autograder.core import Fail, NotYet
from autograder.probes.health import healthcheck_test, shown_test
from autograder.labs import lab02_volumes_persistance as lab02
from autograder.labs import lab03_reseaux as lab03
from fakes import FakeCompose


class FakeGrading:
    """Only what the static parts of the checks read: the canonical services."""

    def __init__(self, services: dict):
        self._compose = FakeCompose(services)

    def compose(self) -> FakeCompose:
        return self._compose


def port(published, target, host_ip=None) -> dict:
    return {"mode": "ingress", "target": target, "published": str(published), "protocol": "tcp",
            **({"host_ip": host_ip} if host_ip else {})}


HEALTH = {"test": ["CMD-SHELL", "pg_isready -U u -d d"], "interval": "3s", "timeout": "3s",
          "retries": 10, "start_period": "30s"}


# -- lab 02 ----------------------------------------------------------------------------------
def test_lab02_healthcheck_timing_absent_is_not_yet_and_lists_every_missing_key():
    with pytest.raises(NotYet) as absent:
        lab02.healthcheck_timing(FakeGrading({"db": {"image": "postgres:17"}}))
    assert "rien à évaluer encore" in absent.value.message() and "healthcheck" in absent.value.message()
    partial = {"db": {"healthcheck": {"test": HEALTH["test"], "interval": "3s"}}}
    with pytest.raises(Fail) as missing:
        lab02.healthcheck_timing(FakeGrading(partial))
    assert not isinstance(missing.value, NotYet)
    assert all(k in missing.value.observed for k in ("timeout", "retries", "start_period"))
    assert "interval" not in missing.value.observed
    assert "start_period=30s" in lab02.healthcheck_timing(FakeGrading({"db": {"healthcheck": HEALTH}}))


def test_lab02_disabled_healthcheck_fails_and_is_not_absent():
    with pytest.raises(Fail) as disabled:
        lab02.healthcheck_timing(FakeGrading({"db": {"healthcheck": {"disable": True}}}))
    assert not isinstance(disabled.value, NotYet) and "désactivé" in disabled.value.observed


def test_lab02_shared_volume_and_stop_are_not_yet_without_volumes_or_commands():
    services = {"db": {}, "producteur": {"image": "debian:trixie-slim"},
                "consommateur": {"image": "debian:trixie-slim"}}
    for check in (lab02.shared_volume, lab02.stop_fast):
        with pytest.raises(NotYet) as absent:
            check(FakeGrading(services))
        assert "producteur et consommateur" in absent.value.observed
    services["producteur"].update(volumes=[{"type": "volume", "source": "partage", "target": "/p"}],
                                  command=["sh", "-c", "sleep infinity"])
    with pytest.raises(NotYet) as only_consumer:
        lab02.shared_volume(FakeGrading(services))
    assert "consommateur" in only_consumer.value.observed and "producteur" not in only_consumer.value.observed


def test_lab02_checks_follow_the_starter_todos():
    ids = [c.id for c in lab02.LAB.checks]
    assert ids.index("02-init-script") < ids.index("02-db-healthy") < ids.index("02-shared-volume") \
        < ids.index("02-stop-fast")
    assert lab02.LAB.max_score == 10


# -- lab 03 ----------------------------------------------------------------------------------
def test_lab03_ports_loopback_not_yet_then_lists_every_problem():
    with pytest.raises(NotYet):
        lab03.ports_loopback(FakeGrading({"front": {}, "api": {}, "db": {}}))
    both = {"front": {"ports": [port(8080, 8080)]}, "api": {"ports": [port(8000, 8000)]}, "db": {}}
    with pytest.raises(Fail) as failed:
        lab03.ports_loopback(FakeGrading(both))
    assert "front publie 0.0.0.0:8080→8080" in failed.value.observed
    assert "api publie 0.0.0.0:8000→8000" in failed.value.observed
    assert "127.0.0.1" in failed.value.hint and "supprimez `ports:` du service api" in failed.value.hint
    ok = {"front": {"ports": [port(8080, 8080, "127.0.0.1")]}, "api": {}, "db": {}}
    assert lab03.ports_loopback(FakeGrading(ok)) is None


def test_lab03_start_order_not_yet_then_lists_every_problem():
    with pytest.raises(NotYet):
        lab03.start_order(FakeGrading({"front": {}, "api": {}, "db": {}}))
    short = {"front": {}, "api": {"depends_on": {"db": {"condition": "service_started"}}}, "db": {}}
    with pytest.raises(Fail) as failed:
        lab03.start_order(FakeGrading(short))
    lines = failed.value.observed.splitlines()
    assert len(lines) == 3, failed.value.observed
    assert "service_started" in lines[0] and "front ne dépend pas de api" in lines[1] and "healthcheck" in lines[2]


def test_listed_caps_the_problems():
    assert lab03.listed(["a"]) == "a"
    text = lab03.listed([str(i) for i in range(9)])
    assert text.count("\n- ") == lab03.MAX_LISTED and "4 autre" in text


# -- the healthcheck as Docker runs it ---------------------------------------------------------
class FakeContainer:
    def __init__(self, test):
        self.attrs = {"Config": {"Healthcheck": {"Test": test}} if test is not None else {}}

    def reload(self):
        pass


@pytest.mark.parametrize("test, expected", [
    (["CMD-SHELL", "pg_isready -U $POSTGRES_USER"], "pg_isready -U $POSTGRES_USER"),
    (["CMD", "pg_isready", "-U", "etl"], "pg_isready -U etl"),
])
def test_healthcheck_test_read_from_the_container(test, expected):
    read = healthcheck_test(FakeContainer(test))
    assert read == test and shown_test(read) == expected


@pytest.mark.parametrize("test", [None, [], ["NONE"]])
def test_no_healthcheck_reads_as_none(test):
    assert healthcheck_test(FakeContainer(test)) is None
