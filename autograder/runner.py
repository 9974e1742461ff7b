"""Grade one submission: copy it, run the lab's checks in order, always clean up."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .compose import ComposeProject
from .core import Check, CheckResult, Fail, GraderUnavailable, Lab, Report, Skip, Status
from .sandbox import BuildResult, DockerStepError, Sandbox

TEXT_SUFFIXES = {".sh", ".sql", ".py", ".yaml", ".yml", ".txt", ".toml", ".cfg", ".ini", ".env"}
TEXT_NAMES = {"Dockerfile", ".dockerignore", ".env", "Makefile"}


@dataclass
class Grading:
    """What a check's ``verify`` gets: the copied submission and memoised Docker resources.

    Expensive things (an image build, ``compose up``) happen once per grading and
    are reused by every check that needs them; a failure is remembered too, so
    each later check reports it without trying again.
    """

    lab: Lab
    workdir: Path
    sandbox: Sandbox
    deadline: float
    notes: list[str] = field(default_factory=list)
    _memo: dict[str, Any] = field(default_factory=dict)

    @property
    def job(self) -> str:
        return self.sandbox.job

    def remaining(self, cap: float) -> float:
        return max(1.0, min(cap, self.deadline - time.monotonic()))

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """Memoise ``make()`` (or the :class:`Fail` it raised) under ``key``."""
        if key not in self._memo:
            try:
                self._memo[key] = ("ok", make())
            except Fail as exc:
                self._memo[key] = ("fail", exc)
        kind, value = self._memo[key]
        if kind == "fail":
            raise value
        return value

    def forget(self, key: str) -> None:
        self._memo.pop(key, None)

    # -- shared resources ---------------------------------------------------------
    def image(self, name: str = "app", dockerfile: str = "Dockerfile", context: str = ".") -> BuildResult:
        """The submission's image, built once per grading."""
        return self.once(f"image:{name}", lambda: self.build(name, dockerfile, context))

    def build(self, name: str, dockerfile: str = "Dockerfile", context: str = ".") -> BuildResult:
        ctx = self.workdir / context
        if not (ctx / dockerfile).is_file():
            raise Fail(expected=f"un fichier {dockerfile} dans le dossier rendu",
                       observed=f"{dockerfile} introuvable",
                       hint=f"créez {dockerfile} à la racine du TP (même dossier que l'énoncé).")
        try:
            return self.sandbox.build(ctx, name, dockerfile, timeout=self.remaining(600))
        except DockerStepError as exc:
            hint = ("le build a dépassé le temps imparti : une commande RUN attend-elle sans fin "
                    "(serveur lancé pendant le build, question interactive sans -y) ?"
                    if exc.timed_out else
                    "lancez `docker build .` dans le dossier du TP et corrigez la première erreur affichée.")
            raise Fail(expected="l'image se construit sans erreur",
                       observed=f"{exc}\n{exc.output}".strip(), hint=hint) from None

    def compose(self) -> ComposeProject:
        return self.once("compose", lambda: ComposeProject(self.sandbox, self.workdir))


def copy_submission(src: Path, dest: Path, notes: list[str]) -> None:
    """Copy the submission, note CRLF endings, and keep Compose from picking its own project name."""
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    crlf = []
    for path in sorted(dest.rglob("*")):
        if not path.is_file() or path.is_symlink() or ".git" in path.relative_to(dest).parts:
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if b"\r\n" in data:
                crlf.append(str(path.relative_to(dest)))
            if path.name == ".env":
                kept = [l for l in data.decode("utf-8", "replace").splitlines()
                        if not l.strip().startswith("COMPOSE_")]
                path.write_text("\n".join(kept) + "\n")
    if crlf:
        notes.append(
            "Fins de ligne Windows (CRLF) détectées dans : " + ", ".join(crlf) +
            ". Les scripts shell échouent alors dans un conteneur Linux (« bad interpreter », "
            "« exec format error »). Corrigez avec `git config core.autocrlf input` puis "
            "`git add --renormalize .`, ou enregistrez en LF dans votre éditeur."
        )


def budget_s(lab: Lab) -> float:
    """The lab's wall-clock budget; AUTOGRADER_BUDGET_S overrides it (slow machines, tests)."""
    try:
        return float(os.environ.get("AUTOGRADER_BUDGET_S", "")) or lab.budget_s
    except ValueError:
        return lab.budget_s


def grade(lab: Lab, submission: Path, sandbox_factory: Callable[[], Sandbox] = Sandbox) -> Report:
    """Grade ``submission`` (a folder) for ``lab``. Docker resources are always removed."""
    submission = Path(submission)
    if not submission.is_dir():
        raise GraderUnavailable(f"Dossier introuvable ou illisible : {submission}",
                                f"Folder not found or unreadable: {submission}")
    started = time.monotonic()
    notes: list[str] = []
    results: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="autograder-", ignore_cleanup_errors=True) as tmp, \
            sandbox_factory() as sandbox:
        workdir = Path(tmp) / lab.id
        try:
            copy_submission(submission, workdir, notes)
        except OSError as exc:
            raise GraderUnavailable(f"Impossible de copier le rendu {submission} : {exc}",
                                    f"Cannot copy submission {submission}: {exc}") from None
        g = Grading(lab, workdir, sandbox, deadline=started + budget_s(lab), notes=notes)
        if lab.prepare:
            lab.prepare(g)
        status_by_id: dict[str, Status] = {}
        for check in lab.checks:
            result = run_check(check, g, status_by_id)
            status_by_id[check.id] = result.status
            results.append(result)
    return Report(lab=lab.id, title=lab.title, results=results,
                  duration_s=time.monotonic() - started, notes=notes)


def run_check(check: Check, g: Grading, status_by_id: dict[str, Status]) -> CheckResult:
    def result(status: Status, message: str, t0: float) -> CheckResult:
        earned = check.points if status is Status.PASSED else 0.0
        return CheckResult(check.id, check.title, check.points, earned, status, message,
                           time.monotonic() - t0)

    t0 = time.monotonic()
    blocked = [r for r in check.requires if status_by_id.get(r) is not Status.PASSED]
    if blocked:
        return result(Status.SKIPPED, "Non évalué : dépend de " + ", ".join(blocked) +
                      " qui n'a pas réussi. Corrigez d'abord ce point.", t0)
    if time.monotonic() > g.deadline:
        return result(Status.FAILED, f"Non évalué : le temps total de correction ({int(budget_s(g.lab))} s) "
                                     "est dépassé.", t0)
    try:
        note = check.verify(g)
        return result(Status.PASSED, note or "", t0)
    except Fail as exc:
        return result(Status.FAILED, exc.message(), t0)
    except Skip as exc:
        return result(Status.SKIPPED, f"Non évalué ici : {exc}", t0)
    except DockerStepError as exc:
        detail = f"\n{exc.output}" if exc.output else ""
        return result(Status.FAILED, f"Attendu : l'étape Docker réussit.\nObservé : {exc}{detail}\n"
                                     "À faire : relancez la commande à la main pour voir l'erreur complète.", t0)
    except GraderUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - a grader bug must not hide the other checks
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return result(Status.ERROR, f"Erreur interne du correcteur ({type(exc).__name__}: {exc} — "
                                    f"{Path(last.filename).name}:{last.lineno}). Signalez-la à "
                                    "l'enseignant ; ce point n'est pas compté.", t0)
