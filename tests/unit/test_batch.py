"""Several gradings at once (autograder.engine.batch, `check DIR… --jobs N`), with stand-in child processes:
order, concurrency, errors, timeouts, and Ctrl-C stopping every grading in flight."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import pytest

from autograder.engine import batch

from autograder import cli
from autograder.core import CheckResult, Report, Status

# A stand-in for `python -m autograder check DIR --json`: waits until the folder named by its
# file `wait` exists (if any), then prints its file `report.json` (or its `out` as is).
CHILD = r"""
import json, pathlib, signal, sys, time
d = pathlib.Path(sys.argv[1])
def stop(*_):
    (d / "cleaned").write_text("x")
    sys.exit(130)
signal.signal(signal.SIGTERM, stop)
(d / "started").write_text("x")
deadline = time.monotonic() + 30
wait = d / "wait"
while wait.exists() and not pathlib.Path(wait.read_text()).exists() and time.monotonic() < deadline:
    time.sleep(0.01)
while (d / "hang").exists() and time.monotonic() < deadline + 30:
    time.sleep(0.01)
print((d / "out").read_text() if (d / "out").exists() else (d / "report.json").read_text())
"""


def _report(score: float, lab: str = "01-images-conteneurs") -> dict:
    status = Status.PASSED if score == 2 else Status.FAILED
    results = [CheckResult("01-build", "L'image se construit", 2.0, score, status,
                           "" if score == 2 else "Attendu : x\nObservé : y")]
    return Report(lab=lab, title="Images", results=results, duration_s=1.25).to_json()


def _folder(tmp_path: Path, name: str, score: float = 2.0, wait_for: Optional[Path] = None) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "report.json").write_text(json.dumps(_report(score)))
    if wait_for:
        (d / "wait").write_text(str(wait_for))
    return d


def _fake(job: batch.Job) -> list[str]:
    return [sys.executable, "-c", CHILD, str(job.folder)]


def _jobs(*folders: Path) -> list[batch.Job]:
    return [batch.Job(f, "01", f.name) for f in folders]


def test_outcomes_come_in_input_order_and_progress_as_they_finish(tmp_path):
    # `a` waits until `b`'s outcome has been seen: with 2 jobs they run together, `b` ends first.
    a = _folder(tmp_path, "a", 2.0, wait_for=tmp_path / "b-seen")
    b = _folder(tmp_path, "b", 0.0)
    seen = []

    def on_done(k, n, outcome):
        seen.append((k, n, outcome.job.label))
        (tmp_path / f"{outcome.job.label}-seen").mkdir()

    outcomes = batch.Batch(2, make_command=_fake).run(_jobs(a, b), on_done)
    assert [o.job.label for o in outcomes] == ["a", "b"]
    assert seen == [(1, 2, "b"), (2, 2, "a")]
    assert [o.report["score"] for o in outcomes] == [2.0, 0.0]
    assert [o.exit_code for o in outcomes] == [0, 1] and all(o.seconds > 0 for o in outcomes)


def test_a_child_without_a_report_is_an_error_not_a_grade(tmp_path):
    d = _folder(tmp_path, "a")
    (d / "out").write_text("Traceback: boom")
    [outcome] = batch.Batch(1, make_command=_fake).run(_jobs(d))
    assert not outcome.graded and outcome.exit_code == 2
    assert "sans rapport" in outcome.report["error_fr"] and outcome.report["error"]


def test_a_grading_past_its_timeout_is_stopped(tmp_path):
    d = _folder(tmp_path, "a")
    (d / "hang").write_text("x")
    [outcome] = batch.Batch(1, make_command=_fake, timeout_s=1).run(_jobs(d))
    assert outcome.exit_code == 2 and "dépassé" in outcome.report["error_fr"]
    assert (d / "cleaned").exists()  # SIGTERM first: the grader's own cleanup ran


def test_ctrl_c_stops_every_grading_in_flight_and_starts_no_other(tmp_path):
    folders = [_folder(tmp_path, name) for name in ("a", "b", "c")]
    for d in folders:
        (d / "hang").write_text("x")

    def interrupt_once_both_run():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all((d / "started").exists() for d in folders[:2]):
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C does

    threading.Thread(target=interrupt_once_both_run, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        batch.Batch(2, make_command=_fake).run(_jobs(*folders))
    assert all((d / "cleaned").exists() for d in folders[:2])
    assert not (folders[2] / "started").exists()


def test_a_report_survives_its_json():
    data = _report(0.0)
    data["notes"] = ["une remarque"]
    again = batch.to_report(data, "Images")
    assert again.to_json() == data and again.title == "Images"
    assert batch.seconds(12.34) == "12,3 s"


def test_command_passes_the_lab_and_the_hidden_checks(tmp_path):
    cmd = batch.command(batch.Job(tmp_path, "01-images-conteneurs", "x", hidden=tmp_path / "h"))
    assert cmd[1:] == ["-m", "autograder", "check", str(tmp_path), "--lab", "01-images-conteneurs", "--json",
                       "--hidden", str(tmp_path / "h")]


def test_check_with_jobs_prints_progress_then_reports_in_order(tmp_path, monkeypatch, capsys):
    lab = "01-images-conteneurs"
    (tmp_path / "ana").mkdir()
    (tmp_path / "ben").mkdir()
    a = _folder(tmp_path / "ana", lab, 2.0, wait_for=tmp_path / "ben" / lab / "started")
    b = _folder(tmp_path / "ben", lab, 0.0)
    monkeypatch.setattr(batch, "command", _fake)
    code = cli.main(["check", str(a), str(b), str(tmp_path / "zz"), "--jobs", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 2  # one folder names no lab: not graded
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x.get("score") for x in lines] == [2.0, 0.0, None] and "--lab" in lines[2]["error_fr"]
    progress = [x for x in err.splitlines() if x.startswith("[")]
    assert progress == [f"[1/3] {tmp_path / 'zz'} correction impossible 0,0 s",
                        progress[1], progress[2]]
    # Then the two gradings, in the order they finish (`a` runs once `b` has started).
    assert [p[:6] for p in progress[1:]] == ["[2/3] ", "[3/3] "]
    assert sorted(p[6:].rsplit(" ", 2)[0] for p in progress[1:]) == [f"{a} (TP {lab}) 2/2", f"{b} (TP {lab}) 0/2"]
    assert all(p.endswith(" s") for p in progress)

    capsys.readouterr()
    assert cli.main(["check", str(a), str(b), "--jobs", "2"]) == 1
    out, err = capsys.readouterr()
    assert out.index("2 / 2") < out.index("0 / 2")  # the scorecards in the input order
    assert "Récapitulatif" in err and "Attendu : x" in out


def test_jobs_must_be_a_positive_integer(capsys):
    with pytest.raises(SystemExit):
        cli.main(["check", ".", "--jobs", "0"])
    assert "entier ≥ 1" in capsys.readouterr().err
