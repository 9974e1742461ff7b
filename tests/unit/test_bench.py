"""The benchmark's logic without Docker: the floor derived from a recorded grading, its replay
rules, the ratio, the table and the JSON file (fake timings). One docker test runs it on lab 01."""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest
from rich.console import Console

from autograder.tools import bench
from autograder.tools.bench_floor import Floor, Op, Replayer, Unreplayable, compose_subcommand, derive_floor
from autograder.tools.bench import (LabBench, ParallelBench, capacity, capacity_table, labs_table, parallel_table,
    write_json)
from autograder.tools.bench_record import Recorder
from autograder.engine import sandbox as sandbox_mod
from autograder.engine.docker_cli import run_cli

JOB = "ag-0123abcd"
CID = "c" * 64  # a compose container, known from a list answer only
APP = "a" * 64  # a container the grader created
PROXY = "b" * 64  # a container using the grader's API proxy


class Clock:
    def __init__(self):
        self.t = 0.0

    def span(self, seconds: float) -> tuple[float, float]:
        t0 = self.t
        self.t += seconds
        return t0, self.t


def api(clock, method, path, seconds=0.01, status=200, **extra):
    t0, t1 = clock.span(seconds)
    return {"kind": "api", "method": method, "path": path, "params": {}, "body": None, "stream": False,
            "status": status, "t0": t0, "t1": t1, **extra}


def exec_events(clock, container, cmd, code, exec_id, seconds=0.1):
    return [api(clock, "POST", f"/containers/{container}/exec", body={"Cmd": cmd}, answer={"Id": exec_id}),
            api(clock, "POST", f"/exec/{exec_id}/start", seconds=seconds, stream=True),
            api(clock, "GET", f"/exec/{exec_id}/json", answer={"ExitCode": code})]


def cli(clock, *args, seconds=1.0, status=0):
    t0, t1 = clock.span(seconds)
    return {"kind": "cli", "args": ["docker", "compose", "-p", JOB, "-f", "/tmp/x.json", *args], "cwd": None,
            "env": {}, "t0": t0, "t1": t1, "status": status, "snap": None}


def http(clock, status, seconds=0.01):
    t0, t1 = clock.span(seconds)
    return {"kind": "http", "method": "GET", "url": "http://127.0.0.1:32800/health", "t0": t0, "t1": t1,
            "status": status}


def trace() -> list[dict]:
    """A lab-02-like grading: compose config and up, a readiness poll, probes, an API proxy run,
    and the grader's bookkeeping around them."""
    c = Clock()
    events = [api(c, "GET", "/_ping"), api(c, "GET", "/info"), cli(c, "config", "--format", "json"),
              cli(c, "up", "-d", seconds=5.0),
              api(c, "GET", "/containers/json", answer=[{"Id": CID, "Names": [f"/{JOB}-db-1"]}])]
    for k, code in enumerate([2, 2, 0]):  # pg_isready until it answers
        events += [api(c, "GET", f"/containers/{CID}/json")]
        events += exec_events(c, CID, ["pg_isready"], code, f"e{k}")
    events += [api(c, "GET", f"/containers/{CID}/json"), api(c, "GET", f"/containers/{CID}/json")]
    events += exec_events(c, CID, ["psql", "-c", "select 1"], 0, "e9")
    events += [api(c, "POST", "/containers/create", answer={"Id": PROXY}, grader_service=True),
               api(c, "POST", f"/containers/{PROXY}/start", seconds=0.3),
               api(c, "GET", f"/containers/{PROXY}/json", seconds=4.0),
               api(c, "GET", f"/containers/{PROXY}/logs", seconds=0.05)]
    events += [http(c, -1), http(c, -1), http(c, 200)]
    events += [cli(c, "down", "--volumes", seconds=2.0), api(c, "GET", "/volumes")]
    return events


def test_bookkeeping_is_dropped_and_execs_are_one_operation():
    ops = derive_floor(trace())
    words = [op.label() for op in ops]
    assert not any("_ping" in w or "/info" in w or " config " in w or "/volumes" in w for w in words)
    assert not any(w.startswith("GET /containers/json") for w in words)
    assert [op.kind for op in ops if op.kind != "poll"].count("exec") == 1  # psql; pg_isready is in a poll
    psql = next(op for op in ops if op.kind == "exec")
    assert psql.result == 0 and psql.recorded_s == pytest.approx(0.12)


def test_a_readiness_poll_becomes_one_operation_replayed_until_the_last_result():
    ops = derive_floor(trace())
    poll = next(op for op in ops if op.kind == "poll" and op.steps[-1].kind == "exec")
    assert poll.rounds == 3 and [s.kind for s in poll.steps] == ["api", "exec"]
    assert poll.until == [200, 0] and poll.changing
    probe = next(op for op in ops if op.kind == "poll" and op.steps[0].kind == "http")
    assert probe.rounds == 3 and probe.until == [200]


def test_an_inspection_counts_once_between_two_changes():
    ops = derive_floor(trace())
    labels = [op.label() for op in ops]
    after_poll = labels.index(next(l for l in labels if "psql" in l))
    assert labels[after_poll - 1].startswith(f"GET /containers/{CID[:12]}/json")
    assert not labels[after_poll - 2].startswith("GET /containers/")


def test_a_container_using_a_grader_service_counts_in_situ_with_its_whole_span():
    ops = derive_floor(trace())
    proxy = [op for op in ops if op.in_situ]
    assert len(proxy) == 1 and proxy[0].merged == 3
    assert proxy[0].recorded_s == pytest.approx(0.01 + 0.3 + 4.0 + 0.05)


@pytest.mark.parametrize("args, sub", [
    (["docker", "compose", "-p", "x", "--project-directory", "/d", "-f", "f.json", "up", "-d"], "up"),
    (["docker", "compose", "-p", "x", "--profile", "*", "config", "--format", "json"], "config"),
    (["docker", "compose", "--ansi", "never", "run", "--rm", "app", "config"], "run"),
    (["docker", "build", "."], None),
])
def test_compose_subcommand(args, sub):
    assert compose_subcommand(args) == sub


class FakeClient:
    api = SimpleNamespace(api_version="1.41")


def replayer(tmp_path, events=None) -> Replayer:
    return Replayer(events or trace(), JOB, tmp_path, client=FakeClient())


def test_ids_and_names_of_the_recording_are_translated_to_the_replay(tmp_path):
    r = replayer(tmp_path)
    assert r.new_job != JOB
    # a compose container known only from a list answer: addressed by its name, new job
    assert r.path(f"/containers/{CID}/json") == f"/containers/{r.new_job}-db-1/json"
    r.ids[APP] = "f" * 64  # created by the replay
    assert r.path(f"/containers/{APP[:12]}/stop") == f"/containers/{'f' * 64}/stop"
    with pytest.raises(Unreplayable):
        r.path("/images/" + "d" * 64 + "/json")
    assert r.subj({"Labels": {"org.4data.autograder.job": JOB}}) == {"Labels": {"org.4data.autograder.job": r.new_job}}


def poll_op(results, until, recorded_s=0.0) -> Op:
    step = Op("exec", {"path": f"/containers/{CID}/exec", "body": {"Cmd": ["true"]}}, result=results[0])
    return Op("poll", step.event, steps=[step], rounds=len(results), until=until, recorded_s=recorded_s)


def test_a_changing_poll_is_replayed_until_it_gives_the_last_result(tmp_path, monkeypatch):
    r = replayer(tmp_path)
    answers = iter([2, 2, 2, 0, 5])
    monkeypatch.setattr(r, "_exec", lambda op, p: next(answers))
    monkeypatch.setattr(r, "prepare", lambda op: {})
    r.replay(poll_op([2, 0], [0]))
    assert next(answers) == 5  # stopped at the first 0


def test_a_poll_that_never_changed_is_replayed_as_long_as_the_grading_polled(tmp_path, monkeypatch):
    r = replayer(tmp_path)
    calls = []
    monkeypatch.setattr(r, "_exec", lambda op, p: calls.append(1) or 0)
    monkeypatch.setattr(r, "prepare", lambda op: {})
    seconds = r.replay(poll_op([0, 0], [0], recorded_s=0.3))
    assert seconds >= 0.3 and len(calls) > 1


def test_a_single_probe_is_retried_until_it_gives_what_the_grading_saw(tmp_path, monkeypatch):
    r = replayer(tmp_path)
    answers = iter([-1, -1, 200])
    monkeypatch.setattr(r, "_http", lambda op, p: next(answers))
    monkeypatch.setattr(r, "prepare", lambda op: {})
    r.replay(Op("http", {"url": "http://127.0.0.1:1/"}, result=200))


def test_floor_adds_replayed_and_in_situ_times():
    floor = Floor()
    floor.add(Op("cli", {"args": ["docker", "compose", "up"]}, recorded_s=9.0), 4.0)
    floor.add(Op("api", {"method": "POST", "path": "/containers/create"}, recorded_s=2.5), None, "proxy")
    assert (floor.seconds, floor.replayed, floor.in_situ, floor.in_situ_s) == (6.5, 1, 1, 2.5)
    assert "in situ" in floor.lines[1] and "proxy" in floor.lines[1]


def sample_results():
    labs = [LabBench("01-images-conteneurs", 6.0, 2.0, 2.0, 0.0, 30, 0, 10.0, 10.0),
            LabBench("08-postgres-sql", 30.0, 12.0, 9.0, 3.0, 80, 2, 10.0, 10.0),
            LabBench("11-ressources-gpu", 5.0, 0.0, 0.0, 0.0, 0, 0, 8.0, 8.0)]
    parallel = ParallelBench("01-images-conteneurs", 4, {1: 24.0, 2: 16.0, 3: 18.0}, {1: True, 2: True, 3: True})
    return labs, parallel


def test_ratio_and_speedup():
    labs, parallel = sample_results()
    assert [b.ratio for b in labs] == [3.0, 2.5, None]
    assert parallel.speedup() == 1.5 and parallel.speedup(3) == 1.33 and parallel.speedup(4) is None
    assert parallel.best() == 2 and parallel.per_hour(1) == 600.0 and parallel.per_hour(2) == 900.0


def test_capacity_scales_each_lab_by_the_measured_speedup():
    labs, parallel = sample_results()
    rows = {r["lab"][:2]: r for r in capacity(labs, parallel)}
    assert rows["01"]["per_hour_1"] == 600.0 and rows["01"]["per_hour_best"] == 900.0 and rows["01"]["jobs"] == 2
    # 150 hand-ins of a 30 s grading: 75 min alone, 50 min at 1.5× throughput
    assert rows["08"]["minutes_150"] == 50.0 and rows["08"]["minutes_30"] == 10.0
    assert capacity(labs, None)[1]["minutes_150"] == 75.0
    assert capacity([LabBench("x", 0.0, 0, 0, 0, 0, 0, 0, 0)], parallel) == []


@pytest.mark.parametrize("width", [40, 60, 100])
def test_tables_fit_a_narrow_terminal(width):
    labs, parallel = sample_results()
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    console.print(labs_table(labs))
    console.print(parallel_table(parallel))
    console.print(capacity_table(capacity(labs, parallel)))
    text = out.getvalue()
    assert all(len(line.rstrip()) <= width for line in text.splitlines())
    for cells in (["01", "6.0", "2.0", "3.00", "30/0"], ["08", "30.0", "12.0", "2.50", "80/2"],
                  ["all", "41.0", "14.0", "2.93"], ["1", "24.0", "6.0", "600", "yes"], ["2", "16.0", "4.0", "900"],
                  ["08", "120", "180", "10", "50"]):
        assert any(line.split()[:len(cells)] == cells for line in text.splitlines() if line.split()), cells
    flat = " ".join(text.split())  # captions wrap at the table's width
    assert "2 jobs 1.50×" in flat and "3 jobs 1.33×" in flat


def test_json_file_holds_the_machine_the_labs_and_the_parallel_runs(tmp_path):
    labs, parallel = sample_results()
    info = {"cores": 2, "docker_engine": "20.10.24", "date": "2026-01-01T00:00:00+00:00"}
    write_json(tmp_path / "bench" / "bench.json", info, labs, parallel)
    data = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert data["machine"] == info
    assert data["labs"][1]["lab"] == "08-postgres-sql" and data["labs"][1]["ratio"] == 2.5
    assert data["labs"][2]["ratio"] is None
    assert [r["jobs"] for r in data["parallel"]["runs"]] == [1, 2, 3]
    assert data["parallel"]["runs"][0]["per_grading_s"] == 6.0 and data["parallel"]["runs"][1]["speedup"] == 1.5
    assert data["parallel"]["best_jobs"] == 2 and data["capacity"][0]["per_hour_best"] == 900.0


class Health(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_recorder_keeps_cli_commands_and_local_http_probes(tmp_path):
    import urllib.error
    import urllib.request

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Recorder(tmp_path) as rec:
            run_cli(["true"], timeout=10)
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/health", timeout=5).read()
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/absent", timeout=5)
        run_cli(["true"], timeout=10)  # after the recording: not kept
    finally:
        server.shutdown()
    assert [(e["kind"], e.get("status")) for e in rec.events] == [("cli", 0), ("http", 200), ("http", 404)]
    assert urllib.request.urlopen is not None and not sandbox_mod.CLI_OBSERVERS


@pytest.mark.docker
def test_bench_on_lab_01_with_two_copies(tmp_path):
    assert bench.main(["--labs", "01", "--n", "2", "--jobs", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    (lab,) = data["labs"]
    assert lab["lab"] == "01-images-conteneurs" and lab["score"] == lab["attainable"] == 10
    assert 0 < lab["floor_s"] and lab["ratio"] > 0 and lab["replayed_ops"] > 10
    assert {r["jobs"] for r in data["parallel"]["runs"]} == {1, 2}
    assert data["capacity"][0]["lab"] == "01-images-conteneurs" and data["capacity"][0]["per_hour_1"] > 0
    assert all(r["all_full_marks"] for r in data["parallel"]["runs"])
    floor = (tmp_path / "floor-01.txt").read_text()
    assert "build" in floor and "exec" in floor and "/stop" in floor
    assert data["machine"]["cores"] and data["machine"]["docker_engine"]
