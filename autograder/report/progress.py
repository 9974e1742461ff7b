"""``[k/N] … 12.3 s`` progress for long runs of several steps (grading several labs, the benchmark).

On a terminal a rich progress bar runs under the finished lines; elsewhere (CI logs, pipes,
nbgrader) each step prints a plain line when it starts and one when it ends, so a log shows
what is running and how long each step took, without spinners or control characters.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass
class Step:
    index: int
    total: int
    label: str
    summary: str = ""  # set by the caller: shown on the step's closing line (e.g. "10/10")
    seconds: float = 0.0

    @property
    def prefix(self) -> str:
        return f"[{self.index}/{self.total}]"

    def line(self) -> str:
        return " ".join(p for p in (self.prefix, self.label, self.summary, f"{self.seconds:.1f} s") if p)


class Steps:
    """``with Steps(n, console) as steps: with steps.step("TP 01") as s: …; s.summary = "10/10"``."""

    def __init__(self, total: int, console: Optional[Console] = None, *, live: Optional[bool] = None):
        self.total = total
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal if live is None else live
        self.done = 0
        self._progress: Optional[Progress] = None
        self._task = None

    def __enter__(self) -> "Steps":
        if self.live:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def step(self, label: str) -> Iterator[Step]:
        step = Step(self.done + 1, self.total, label)
        if self._progress is not None:
            self._progress.update(self._task, description=f"{step.prefix} {escape(label)} …")
        else:
            self.console.print(f"{step.prefix} {label} …", markup=False, highlight=False)
        started = time.monotonic()
        try:
            yield step
        finally:
            step.seconds = time.monotonic() - started
            self.done += 1
            self.console.print(step.line(), markup=False, highlight=False)
            if self._progress is not None:
                self._progress.update(self._task, completed=self.done)
