"""sweep(keep=…) and `autograder clean`: objects of gradings in flight are left, the rest goes
(a fake engine: no Docker)."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from autograder import cli

from autograder.engine import lease
from autograder.engine.docker_api import JOB_LABEL, labelled_jobs, sweep


class Obj:
    def __init__(self, store, kind, name, job, parent=""):
        self.store, self.kind, self.name, self.id = store, kind, name, name
        self.labels = {JOB_LABEL: job}
        self.attrs = {"Labels": self.labels, "Parent": parent}

    def remove(self, **kwargs):
        self.store[self.kind].remove(self)


class FakeEngine:
    def __init__(self, jobs):
        self.store = {k: [] for k in ("containers", "networks", "volumes", "images")}
        for job in jobs:
            for kind in self.store:
                self.store[kind].append(Obj(self.store, kind, f"{job}-{kind}", job))
        listing = lambda kind: (lambda **kw: list(self.store[kind]))  # noqa: E731
        self.containers = SimpleNamespace(list=listing("containers"))
        self.networks = SimpleNamespace(list=listing("networks"))
        self.volumes = SimpleNamespace(list=listing("volumes"))
        self.images = SimpleNamespace(list=listing("images"), remove=self.remove_image)

    def remove_image(self, ident, **kwargs):
        self.store["images"][:] = [i for i in self.store["images"] if i.id != ident]

    def jobs(self):
        return {o.labels[JOB_LABEL] for objs in self.store.values() for o in objs}


def test_sweep_keeps_the_jobs_in_flight_of_every_kind():
    engine = FakeEngine(["ag-live", "ag-dead"])
    assert labelled_jobs(engine) == {"ag-live", "ag-dead"}
    removed = sweep(engine, keep=frozenset({"ag-live"}))
    assert removed == {"containers": 1, "networks": 1, "volumes": 1, "images": 1}
    assert engine.jobs() == {"ag-live"}
    assert sweep(engine) == {"containers": 1, "networks": 1, "volumes": 1, "images": 1}
    assert engine.jobs() == set()


def test_clean_says_in_french_what_it_left(monkeypatch, tmp_path):
    monkeypatch.setenv(lease.DIR_ENV, str(tmp_path))
    engine = FakeEngine(["ag-live", "ag-dead"])
    monkeypatch.setattr(cli, "docker_client", lambda: engine)
    with lease.Lease("ag-live"), lease.Lease("ag-idle"):  # a live lease without objects is not named
        console = Console(record=True, width=200)
        assert cli.clean(False, console) == 0
        text = console.export_text()
        assert "1 correction en cours laissée intacte (ag-live)" in text and "ag-idle" not in text
        assert engine.jobs() == {"ag-live"}
        console = Console(record=True, width=200)
        assert cli.clean(True, console) == 0  # --all
        assert "en cours" not in console.export_text() and engine.jobs() == set()
