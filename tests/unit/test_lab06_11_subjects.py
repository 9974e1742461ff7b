"""Labs 06 and 11, without Docker: checks judged on their subject (« rien à évaluer encore » while
it is absent), and a real failure, never NotYet, once the student wrote something wrong.

Written from the instructions (enonce.ipynb's contract), on Compose's canonical form."""

from __future__ import annotations

import pytest

from autograder.core import Fail, NotYet
from autograder.labs import lab06_securite_images as lab06
from autograder.labs import lab11_ressources_gpu as lab11
from fakes import FakeCompose


class FakeClient:
    def info(self) -> dict:
        return {"Runtimes": {"runc": {}}}


class FakeSandbox:
    client = FakeClient()


class FakeGrading:
    """Only what the static parts of the checks read: the canonical services, the engine's info."""

    def __init__(self, services: dict):
        self._compose = FakeCompose(services)
        self.sandbox = FakeSandbox()

    def compose(self) -> FakeCompose:
        return self._compose


def traitement(**extra) -> dict:
    return {"traitement": {"build": {"context": "/nowhere/traitement", "dockerfile": "Dockerfile"}, **extra},
            "gpu": {"image": "debian:trixie-slim"}}


LIMITS = {"deploy": {"resources": {"limits": {"memory": "268435456", "cpus": 0.5, "pids": 64}}}}
RESERVED = {"deploy": {"resources": {"reservations": {"memory": "268435456"}}}}


# -- lab 11 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("check", [lab11.limits_declared, lab11.limits_applied, lab11.oom_killed])
def test_lab11_limit_checks_have_nothing_to_judge_without_any_limit(check):
    with pytest.raises(NotYet) as absent:
        check(FakeGrading(traitement()))
    assert "rien à évaluer encore" in absent.value.message() and "TODO 3" in absent.value.message()


def test_lab11_a_reservation_is_a_real_mistake_not_an_absent_limit():
    with pytest.raises(Fail) as reserved:
        lab11.limits_declared(FakeGrading(traitement(**RESERVED)))
    assert not isinstance(reserved.value, NotYet)
    assert "réservation" in reserved.value.observed and "pas une limite" in reserved.value.observed
    # The OOM probe needs a memory *limit*: a reservation alone leaves it nothing to judge.
    with pytest.raises(NotYet) as no_memory:
        lab11.oom_killed(FakeGrading(traitement(**RESERVED)))
    assert "aucune limite de mémoire" in no_memory.value.observed
    assert lab11.limits_declared(FakeGrading(traitement(**LIMITS))) == lab11.ASKED


def test_lab11_gpu_reservation_absent_is_not_yet_and_the_legacy_runtime_fails():
    with pytest.raises(NotYet) as absent:
        lab11.gpu_reservation(FakeGrading(traitement()))
    assert "rien à évaluer encore" in absent.value.message() and "TODO 4" in absent.value.message()
    services = traitement()
    services["gpu"]["runtime"] = "nvidia"
    with pytest.raises(Fail) as legacy:
        lab11.gpu_reservation(FakeGrading(services))
    assert not isinstance(legacy.value, NotYet)
    assert "runtime: nvidia" in legacy.value.observed and "DeviceRequest" in legacy.value.observed
    assert "ne connaît" in legacy.value.observed and "ancienne syntaxe" in legacy.value.hint


def test_lab11_checks_follow_the_todos():
    ids = [c.id for c in lab11.LAB.checks]
    assert ids.index("11-service-runs") < ids.index("11-limits-declared") < ids.index("11-gpu-reservation")


# -- lab 06 ----------------------------------------------------------------------------------
def test_lab06_checks_follow_the_todos():
    ids = [c.id for c in lab06.LAB.checks]
    order = ["06-base-pinned", "06-no-secret-env", "06-no-secret-files", "06-non-root", "06-healthcheck"]
    assert [i for i in ids if i in order] == order
