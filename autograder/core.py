"""Core types of the grader: a lab is an ordered list of small declarative checks.

A check has a stable id, a French title (what the student sees), points, and a
``verify`` function. ``verify`` receives the :class:`~autograder.engine.runner.Grading`
of the submission and returns ``None`` (or a short French note) when the check
passes. It raises :class:`Fail` with what was expected, what was observed and
what to do next; :class:`NotYet` when the thing it judges is not there yet (« rien à
évaluer encore », 0 points: a check never passes on an absent subject); or :class:`Skip`
when the check cannot be judged here (for example no GPU on this host). A check may name prerequisites: when one of them
did not pass, the check is skipped and says why.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

LAB_ID = re.compile(r"^(?P<num>\d{2})-[a-z0-9]+(?:-[a-z0-9]+)*$")
CHECK_ID = re.compile(r"^\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*$")


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class Fail(Exception):
    """A check did not pass: expected, observed, and the next step (all French)."""

    def __init__(self, expected: str, observed: str, hint: str = "", rule: str = ""):
        super().__init__(observed)
        self.expected = expected
        self.observed = observed
        self.hint = hint
        self.rule = rule

    def message(self) -> str:
        parts = [f"Attendu : {self.expected}", f"Observé : {self.observed}"]
        if self.hint:
            parts.append(f"À faire : {self.hint}")
        if self.rule:
            parts.append(f"Référence : {self.rule}")
        return "\n".join(parts)


class NotYet(Fail):
    """The check's subject is absent (no code copied yet, no healthcheck, no CMD…): there is
    nothing to judge yet. It earns nothing and says what to do first."""

    def __init__(self, expected: str, absent: str, first: str):
        super().__init__(expected, f"rien à évaluer encore : {absent}", first)


MAX_LISTED = 5


def several(problems: list[Fail], cap: int = MAX_LISTED) -> Fail:
    """One :class:`Fail` listing every problem a check found (numbered, at most ``cap``, then « … et
    N autres »), so the student fixes them all in one go. A single problem is returned as is."""
    if len(problems) == 1:
        return problems[0]
    shown = problems[:cap]
    more = len(problems) - len(shown)
    tail = f"\n… et {more} autre{'s' if more > 1 else ''}" if more else ""
    observed = f"{len(problems)} problèmes :\n" + "\n".join(
        f"{i}. {p.observed} (attendu : {p.expected})" for i, p in enumerate(shown, 1)) + tail
    hint = "\n".join(f"{i}. {p.hint}" for i, p in enumerate(shown, 1) if p.hint)
    rules = ", ".join(dict.fromkeys(p.rule for p in shown if p.rule))
    return Fail("chacun des points ci-dessous", observed, hint, rule=rules)


class Skip(Exception):
    """The check cannot be judged on this host; it earns nothing and says why."""


# The core is the package's foundation and knows nothing of the engine: a check's ``verify`` (and a
# lab's ``prepare``) receives the engine's ``Grading`` (autograder.engine.runner), typed Any here.
GradingT = Any
VerifyFn = Callable[[GradingT], Optional[str]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    points: float
    verify: VerifyFn
    requires: tuple[str, ...] = ()
    static: bool = False  # True when the check never runs the submission

    def __post_init__(self) -> None:
        if not CHECK_ID.match(self.id):
            raise ValueError(f"invalid check id {self.id!r}")
        if self.points <= 0:
            raise ValueError(f"check {self.id} must be worth points")


@dataclass
class Lab:
    """A lab: its id (``NN-slug``), French title, the files a student edits, its checks."""

    id: str
    title: str
    files: tuple[str, ...]
    budget_s: float = 600.0
    # Containers reach outside the host only when the lab needs it (e.g. to download packages).
    internet: bool = False
    checks: list[Check] = field(default_factory=list)
    prepare: Optional[Callable[[GradingT], None]] = None
    # The engine the lab runs on: "docker", or "podman" (Kubernetes manifests through `kube play`).
    engine: str = "docker"
    # What the grader refuses to run in the submission, read before anything runs (a Fail, or
    # None); Compose labs need none: their Compose file is reviewed by the runner.
    review: Optional[Callable[[GradingT], Any]] = None

    def __post_init__(self) -> None:
        if not LAB_ID.match(self.id):
            raise ValueError(f"invalid lab id {self.id!r}")

    @property
    def number(self) -> str:
        return self.id[:2]

    @property
    def max_score(self) -> float:
        return float(sum(c.points for c in self.checks))

    def check(self, id: str, title: str, points: float, *, requires: Iterable[str] = (),
              static: bool = False) -> Callable[[VerifyFn], VerifyFn]:
        """Decorator registering ``verify`` as the lab's next check (order = definition)."""

        def register(fn: VerifyFn) -> VerifyFn:
            self.add(Check(id, title, float(points), fn, tuple(requires), static))
            return fn

        return register

    def add(self, check: Check) -> Check:
        if not check.id.startswith(self.number + "-"):
            raise ValueError(f"check {check.id} must start with the lab number {self.number}")
        known = {c.id for c in self.checks}
        if check.id in known:
            raise ValueError(f"duplicate check id {check.id}")
        missing = [r for r in check.requires if r not in known]
        if missing:
            raise ValueError(f"check {check.id} requires unknown or later checks {missing}")
        self.checks.append(check)
        return check


@dataclass
class CheckResult:
    id: str
    title: str
    points: float
    earned: float
    status: Status
    message: str = ""
    duration_s: float = 0.0
    # Skipped because this host cannot judge it (no GPU, no conda image…), not because of the work.
    skipped_here: bool = False
    # Failed because its subject is not there yet (:class:`NotYet`): « rien à évaluer encore ».
    absent: bool = False

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "points": self.points,
            "earned": self.earned,
            "status": self.status.value,
            "skipped_here": self.skipped_here,
            "absent": self.absent,
            "message": self.message,
        }


@dataclass
class Report:
    lab: str
    title: str
    results: list[CheckResult]
    duration_s: float
    notes: list[str] = field(default_factory=list)
    # The grading could not finish (the Docker daemon stopped answering): the CLI exits 2.
    incomplete: bool = False

    @property
    def score(self) -> float:
        return round(sum(r.earned for r in self.results), 2)

    @property
    def max_score(self) -> float:
        return round(sum(r.points for r in self.results), 2)

    @property
    def attainable(self) -> float:
        """The points this host can award (the checks it cannot judge left out)."""
        return round(sum(r.points for r in self.results if not r.skipped_here), 2)

    @property
    def all_passed(self) -> bool:
        """Every check this host can judge passed."""
        return all(r.status is Status.PASSED or r.skipped_here for r in self.results)

    def to_json(self) -> dict:
        return {
            "lab": self.lab,
            "score": self.score,
            "max_score": self.max_score,
            "attainable": self.attainable,
            "duration_s": round(self.duration_s, 1),
            "incomplete": self.incomplete,
            "notes": list(self.notes),
            "checks": [r.to_json() for r in self.results],
        }


class GraderUnavailable(Exception):
    """The grader itself cannot run (no Docker, unknown lab, unreadable folder): exit 2."""

    def __init__(self, fr: str, en: str):
        super().__init__(en)
        self.fr = fr
        self.en = en
