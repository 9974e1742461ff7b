"""Same grades in parallel (issue 17, item 2): the stress set graded one after another and three at a
time gives the same status for every check of every submission.

The set: every lab's solution, starter and one mutant (``STRESS_LABS="01 05"`` narrows it), each
materialised in its own folder. It is graded with ``python -m autograder check DIR… --jobs 1`` and
``--jobs 3`` (``STRESS_JOBS="1 3"``), and the two runs are compared check by check.
``STRESS_BESIDE=chapters`` runs the chapter notebooks (nbval, as ``make test`` does) beside both
runs, again and again until they end. Timings and statuses go to ``build/stress/stress.json``.

Not part of ``make test`` (it grades the set twice: ~30+ min for every lab on a 2-core machine):
collected only when ``COURSE_STRESS=1``; ``make stress`` runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cases import LABS, ROOT, SOLUTIONS, lab_ids, variants

if not os.environ.get("COURSE_STRESS"):
    pytest.skip("stress test: COURSE_STRESS=1 (make stress)", allow_module_level=True)

pytestmark = [pytest.mark.docker, pytest.mark.stress]

OUT = ROOT / "build" / "stress" / "stress.json"
NBVAL = ["--nbval-lax", "--nbval-sanitize-with", "chapters/nbval-sanitize.cfg", "--nbval-cell-timeout=900"]
RUN_TIMEOUT_S = 4 * 3600
# How long the chapter notebooks beside may take to finish their round once the gradings are done.
ROUND_GRACE_S = 900


def chosen_labs() -> list[str]:
    wanted = os.environ.get("STRESS_LABS", "").split()
    labs = lab_ids()
    if not wanted:
        return labs
    picked = [lab for lab in labs if any(lab.startswith(f"{int(w):02d}-") for w in wanted if w.isdigit())]
    assert len(picked) == len(wanted), f"STRESS_LABS={wanted}: unknown lab among {labs}"
    return picked


def one_mutant(lab: str):
    """The lab's first mutant (by name) that builds offline without an alias (no `python:latest`)."""
    for v in sorted((v for v in variants("mutant") if v.lab == lab), key=lambda v: v.name):
        if not any(":latest" in (e.get("new") or "") for e in v.edits):
            return v
    return None


def stress_set(dest: Path) -> list[tuple[str, Path]]:
    """``(id, folder)`` of every submission of the set, each folder named as its lab."""
    items = []
    for lab in chosen_labs():
        sol = dest / "solution" / lab
        shutil.copytree(SOLUTIONS / lab, sol)
        items.append((f"{lab}/solution", sol))
        starter = dest / "starter" / lab
        shutil.copytree(LABS / lab, starter, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        items.append((f"{lab}/starter", starter))
        mutant = one_mutant(lab)
        if mutant is not None:
            items.append((f"{lab}/mutant-{mutant.name}", mutant.materialise(dest / f"mutant-{mutant.name}")))
    return items


def has_jobs_option() -> bool:
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    return "--jobs" in proc.stdout


def grade_all(items: list[tuple[str, Path]], jobs: int) -> dict:
    """Grade the set with ``jobs`` gradings at a time: one ``check … --jobs N --json`` command
    (JSON lines in the input order)."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", *[str(f) for _, f in items],
                           "--jobs", str(jobs), "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    wall = time.monotonic() - t0
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(items), proc.stderr[-3000:]
    reports = {}
    for (ident, _), data in zip(items, lines):
        assert "checks" in data, f"{ident}: {data}"
        reports[ident] = {"score": data["score"], "max_score": data["max_score"],
                          "duration_s": data.get("duration_s"),
                          "checks": {c["id"]: c["status"] for c in data["checks"]},
                          "messages": {c["id"]: (c.get("message") or "")[:300] for c in data["checks"]
                                       if c["status"] != "passed"}}
    return {"jobs": jobs, "wall_s": round(wall, 1), "exit_code": proc.returncode, "reports": reports}


class Beside:
    """The chapter notebooks under nbval, run again and again in their own process group."""

    def __init__(self, what: str):
        self.what = what
        self.halt = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.rounds: list[dict] = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.halt.is_set():
            t0 = time.monotonic()
            self.proc = subprocess.Popen([sys.executable, "-m", "pytest", *NBVAL, "-p", "no:cacheprovider", "-q",
                                          "chapters"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, start_new_session=True)
            out, _ = self.proc.communicate()
            self.rounds.append({"rc": self.proc.returncode, "wall_s": round(time.monotonic() - t0, 1),
                                "tail": out.strip().splitlines()[-1:] if out else []})

    def __enter__(self) -> "Beside":
        if self.what:
            assert self.what == "chapters", f"STRESS_BESIDE={self.what}: only « chapters » is known"
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """No new round; the current one ends by itself (its notebooks remove what they made),
        within :data:`ROUND_GRACE_S`; past it, or on an error, it is stopped (pytest's process
        group: its kernels go with it) and the next run of a notebook removes its leftovers."""
        self.halt.set()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=ROUND_GRACE_S if exc[0] is None else 0.1)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
        if self.thread.is_alive():
            self.thread.join(timeout=180)


def differences(runs: list[dict]) -> list[dict]:
    """Every (submission, check) whose status differs between the runs."""
    first, *others = runs
    found = []
    for ident, rep in first["reports"].items():
        for other in others:
            theirs = other["reports"][ident]["checks"]
            for check in sorted(set(rep["checks"]) | set(theirs)):
                a, b = rep["checks"].get(check), theirs.get(check)
                if a != b:
                    found.append({"submission": ident, "check": check, f"jobs={first['jobs']}": a,
                                  f"jobs={other['jobs']}": b,
                                  "messages": [rep["messages"].get(check, ""),
                                               other["reports"][ident]["messages"].get(check, "")]})
    return found


def test_parallel_grading_gives_the_same_statuses(tmp_path):
    assert has_jobs_option(), "python -m autograder check has no --jobs option"
    counts = [int(n) for n in os.environ.get("STRESS_JOBS", "1 3").split()]
    beside = os.environ.get("STRESS_BESIDE", "").strip()
    runs = []
    with Beside(beside) as side:
        for jobs in counts:
            # A fresh copy per run: a grading appends to the files it touches (rebuild checks).
            items = stress_set(tmp_path / f"jobs-{jobs}")
            runs.append(grade_all(items, jobs))
    diff = differences(runs)
    result = {
        "labs": chosen_labs(), "set": [ident for ident, _ in items], "beside": beside or None,
        "beside_rounds": side.rounds, "cpus": os.cpu_count(),
        "timings": {str(r["jobs"]): r["wall_s"] for r in runs},
        "speedup": {str(r["jobs"]): round(runs[0]["wall_s"] / r["wall_s"], 2) for r in runs},
        "agree": not diff, "differences": diff, "runs": runs,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"\nstress: {len(result['set'])} submissions, wall {result['timings']} s, speedup {result['speedup']}, "
          f"beside={beside or '-'}; {len(diff)} difference(s) -> {OUT.relative_to(ROOT)}")
    assert not diff, json.dumps(diff, ensure_ascii=False, indent=1)
    # Same statuses, and the submissions scored as the suite expects: a run that broke every
    # grading the same way would agree too.
    for ident, rep in runs[0]["reports"].items():
        if ident.endswith("/solution"):
            assert all(s in ("passed", "skipped") for s in rep["checks"].values()), (ident, rep["messages"])
        else:
            assert any(s != "passed" for s in rep["checks"].values()), (ident, rep["checks"])
