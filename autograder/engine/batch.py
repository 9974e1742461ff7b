"""Grading several folders at once: ``python -m autograder check DIR… --jobs N`` and ``make grade``.

Each grading runs in its own child process (``python -m autograder check DIR --lab LAB --json``),
``jobs`` of them at a time, each isolated by its Docker job label. Child processes rather than
threads running :func:`autograder.engine.runner.grade`: a Python thread never receives Ctrl-C, so an
interrupted batch could not stop a grading in flight; a child process does, because the grader
treats SIGTERM like Ctrl-C and removes its containers, networks, volumes and images in a
``finally``. The children run in their own session (the terminal's Ctrl-C reaches this process
only); on Ctrl-C or SIGTERM this process sends SIGTERM to every running child, starts no new one,
waits for each to clean up (then kills it after :data:`STOP_GRACE_S`), and re-raises.

Results come back in the input order; a callback sees each one as it finishes (the ``[k/N]``
progress lines).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from autograder.core import CheckResult, Report, Status

# Longest grading (s) before the child is stopped: the runner's own budget is shorter.
GRADING_TIMEOUT_S = 1800
# How long an interrupted child may take to clean up before it is killed.
STOP_GRACE_S = 120


@dataclass
class Job:
    """One folder to grade for one lab; ``label`` names it in progress lines."""
    folder: Path
    lab: str
    label: str
    hidden: Optional[Path] = None


@dataclass
class Outcome:
    job: Job
    report: dict = field(default_factory=dict)  # the child's JSON: a report, or {"error", "error_fr"}
    seconds: float = 0.0

    @property
    def graded(self) -> bool:
        return "checks" in self.report

    @property
    def exit_code(self) -> int:
        """As ``check`` exits for one folder: 2 not graded (or incomplete), 1 a check left, 0 all passed."""
        if not self.graded or self.report.get("incomplete"):
            return 2
        return 0 if to_report(self.report).all_passed else 1


def command(job: Job) -> list[str]:
    cmd = [sys.executable, "-m", "autograder", "check", str(job.folder), "--lab", job.lab, "--json"]
    if job.hidden is not None:
        cmd += ["--hidden", str(job.hidden)]
    return cmd


def _error(fr: str, en: str) -> dict:
    return {"error": en, "error_fr": fr}


class Batch:
    """``Batch(jobs=N).run(list_of_jobs, on_done)`` → one :class:`Outcome` per job, input order."""

    def __init__(self, jobs: int = 1, *, make_command: Optional[Callable[[Job], list[str]]] = None,
                 timeout_s: float = GRADING_TIMEOUT_S):
        self.jobs = max(1, jobs)
        self.make_command = make_command or (lambda job: command(job))
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopping = threading.Event()

    # -- one child -------------------------------------------------------------------------
    def _grade(self, job: Job) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONWARNINGS")}
        env["PYTHONWARNINGS"] = "ignore"
        with self._lock:
            if self._stopping.is_set():
                return _error("correction interrompue.", "grading interrupted.")
            proc = subprocess.Popen(self.make_command(job), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=env, start_new_session=True)
            self._running.add(proc)
        try:
            try:
                out, err = proc.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                self._stop(proc)
                minutes = round(self.timeout_s / 60)
                return _error(f"la correction a dépassé {minutes} min ; elle a été arrêtée.",
                              f"grading exceeded {minutes} min and was stopped.")
        finally:
            with self._lock:
                self._running.discard(proc)
        lines = out.strip().splitlines()
        try:
            report = json.loads(lines[-1]) if lines else None
        except ValueError:
            report = None
        if not isinstance(report, dict):
            tail = (err or "").strip()[-2000:]
            return _error(f"le correcteur s'est arrêté sans rapport (code {proc.returncode}).\n{tail}".rstrip(),
                          f"the grader stopped without a report (exit {proc.returncode}).")
        return report

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        """SIGTERM (the grader cleans up as on Ctrl-C), then kill after the grace period."""
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            proc.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        except ValueError:  # streams already closed by the reading thread
            proc.wait()

    def interrupt(self) -> None:
        """Stop: no new child starts, every running child gets SIGTERM."""
        with self._lock:
            self._stopping.set()
            running = list(self._running)
        for proc in running:
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass

    # -- the batch -------------------------------------------------------------------------
    def run(self, jobs: list[Job], on_done: Optional[Callable[[int, int, Outcome], None]] = None) -> list[Outcome]:
        outcomes: list[Optional[Outcome]] = [None] * len(jobs)
        done = 0

        def one(index: int) -> None:
            nonlocal done
            started = time.monotonic()
            outcome = Outcome(jobs[index], self._grade(jobs[index]), time.monotonic() - started)
            with self._lock:
                outcomes[index] = outcome
                done += 1
                k = done
            if on_done is not None and not self._stopping.is_set():
                on_done(k, len(jobs), outcome)

        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="grading")
        futures = [pool.submit(one, i) for i in range(len(jobs))]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)  # Ctrl-C interrupts the wait
            for f in futures:
                f.result()
        except BaseException:
            self.interrupt()
            for f in futures:
                f.cancel()
            # Each running child cleans up, then its thread returns; one that takes longer than
            # the grace period is killed.
            wait(futures, timeout=STOP_GRACE_S)
            with self._lock:
                late = list(self._running)
            for proc in late:
                proc.kill()
            pool.shutdown(wait=True)
            raise
        pool.shutdown(wait=True)
        return [o for o in outcomes if o is not None]


def to_report(data: dict, title: str = "") -> Report:
    """A :class:`Report` from its JSON (``Report.to_json``, which has no title), to render a
    child's scorecard."""
    results = [CheckResult(c["id"], c["title"], c["points"], c["earned"], Status(c["status"]),
                           c.get("message", ""), skipped_here=c.get("skipped_here", False),
                           absent=c.get("absent", False)) for c in data.get("checks", [])]
    return Report(lab=data.get("lab", ""), title=title or data.get("title", ""), results=results,
                  duration_s=float(data.get("duration_s", 0.0)), notes=list(data.get("notes", [])),
                  incomplete=bool(data.get("incomplete", False)))


def seconds(x: float) -> str:
    """A duration as French text writes it: « 12,3 s »."""
    return f"{x:.1f} s".replace(".", ",")
