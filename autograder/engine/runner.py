"""Grade one submission: copy it, run the lab's checks in order, always clean up."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from autograder.engine.compose import COMPOSE_FILES, ComposeProject, Refused
from autograder.core import Check, CheckResult, Fail, GraderUnavailable, Lab, NotYet, Report, Skip, Status
from autograder.readers.dockerfile import instructions
from autograder.engine.policy import inside
from autograder.engine import podman
from autograder.engine.sandbox import BuildResult, Sandbox
from autograder.engine.docker_api import DockerStepError

# A submission is a few source files: past these, it is refused before it is even copied.
MAX_SUBMISSION_MB = 200
MAX_SUBMISSION_FILES = 5000
LARGE_FILE_MB = 10
TEXT_SUFFIXES = {".sh", ".sql", ".py", ".yaml", ".yml", ".txt", ".toml", ".cfg", ".ini", ".env"}
TEXT_NAMES = {"Dockerfile", ".dockerignore", ".env", "Makefile"}
CRLF_FIX = ("Corrigez avec `git config core.autocrlf input` puis `git add --renormalize .`, ou "
            "`sed -i 's/\\r$//' FICHIER` (ou `dos2unix FICHIER`), ou enregistrez en LF dans votre éditeur.")


def is_text_source(path: Path) -> bool:
    """A file that runs or is read inside a Linux container (script, Dockerfile, YAML, SQL, .env…)."""
    name = path.name
    return (path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES or name.startswith(("Dockerfile.", ".env."))
            or name.endswith(".Dockerfile"))


def has_crlf(path: Path) -> bool:
    """Does this text source have Windows (CRLF) line endings? Unreadable files count as not."""
    try:
        return b"\r\n" in path.read_bytes()
    except OSError:
        return False


def crlf_note(files: list[str]) -> str:
    """The French explanation for files with CRLF endings (grading notes, ``make doctor``)."""
    return ("Fins de ligne Windows (CRLF) détectées dans : " + ", ".join(files) +
            ". Les scripts shell échouent alors dans un conteneur Linux (« bad interpreter », "
            "« exec format error »). " + CRLF_FIX)


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
    # Why the grader will not run this submission (runtime checks then score 0 with it).
    refused: Optional[Fail] = None
    # The Docker daemon stopped answering: later checks are not attempted.
    daemon_lost: bool = False
    # Checks this host cannot judge (skipped « ici »): what depends on them cannot be judged either.
    not_here: set = field(default_factory=set)
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

    def image_files(self, read: tuple[str, ...] = (), name: str = "app") -> dict[str, Optional[bytes]]:
        """The regular files of image ``name`` (one export per grading, no student code runs):
        path -> the first 64 KiB of the files whose base name is in ``read``, else None."""
        def export() -> dict[str, Optional[bytes]]:
            found: dict[str, Optional[bytes]] = {}
            for member, tar in self.sandbox.image_files(self.image(name).tag):
                if not member.isfile():
                    continue
                content = None
                if member.name.rsplit("/", 1)[-1] in read:
                    fh = tar.extractfile(member)
                    content = fh.read(1 << 16) if fh else None
                found["/" + member.name.lstrip("./")] = content
            return found
        return self.once(f"image-files:{name}:{','.join(read)}", export)

    def build(self, name: str, dockerfile: str = "Dockerfile", context: str = ".") -> BuildResult:
        ctx = self.workdir / context
        if not (ctx / dockerfile).is_file():
            raise NotYet(f"un fichier {dockerfile} dans le dossier rendu", f"{dockerfile} introuvable",
                         f"créez {dockerfile} à la racine du TP (même dossier que l'énoncé).")
        if not instructions(ctx / dockerfile):
            raise NotYet(f"un {dockerfile} qui construit une image",
                         f"{dockerfile} ne contient encore aucune instruction (seulement des commentaires)",
                         "suivez ses TODO dans l'ordre, en commençant par l'image de base (`FROM …`).")
        try:
            result = self.sandbox.build(ctx, name, dockerfile, timeout=self.remaining(600))
            self.notes.extend(n for n in result.notes if n not in self.notes)
            return result
        except DockerStepError as exc:
            hint = ("le build a dépassé le temps imparti : une commande RUN attend-elle sans fin "
                    "(serveur lancé pendant le build, question interactive sans -y) ?"
                    if exc.timed_out else
                    "lancez `docker build .` dans le dossier du TP et corrigez la première erreur affichée.")
            raise Fail(expected="l'image se construit sans erreur",
                       observed=f"{exc}\n{exc.output}".strip(), hint=hint) from None

    def compose(self) -> ComposeProject:
        return self.once("compose", lambda: ComposeProject(self.sandbox, self.workdir,
                                                           internet=self.lab.internet, notes=self.notes))


def uses_compose(lab: Lab) -> bool:
    return any(Path(f).name in COMPOSE_FILES for f in lab.files)


def measure(src: Path) -> tuple[int, int, list[tuple[str, int]]]:
    """(bytes, files, large files) of a folder, without following links; stops past the limits."""
    total, count, large = 0, 0, []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if d != ".ipynb_checkpoints"]
        for name in filenames:
            path = Path(dirpath) / name
            try:
                size = path.lstat().st_size
            except OSError:
                continue
            total += size
            count += 1
            if size > LARGE_FILE_MB * 1024**2:
                large.append((str(path.relative_to(src)), size))
            if total > MAX_SUBMISSION_MB * 1024**2 or count > MAX_SUBMISSION_FILES:
                return total, count, large
    return total, count, large


def too_large(src: Path, notes: list[str]) -> Optional[Fail]:
    """A :class:`Fail` for a submission past the size limits; notes for merely large files."""
    total, count, large = measure(src)
    if total > MAX_SUBMISSION_MB * 1024**2 or count > MAX_SUBMISSION_FILES:
        return Fail(f"un rendu de moins de {MAX_SUBMISSION_MB} Mo et {MAX_SUBMISSION_FILES} fichiers",
                    f"plus de {total // 1024**2} Mo / {count} fichiers : le rendu n'a pas été corrigé",
                    "ne rendez que vos sources : ni données, ni environnement virtuel (.venv), ni "
                    "node_modules, ni images exportées.")
    for rel, size in large:
        notes.append(f"Fichier volumineux : {rel} ({size // 1024**2} Mo). Il alourdit le contexte de build "
                     "envoyé au démon Docker : ajoutez-le à .dockerignore s'il n'est pas nécessaire à l'image.")
    return None


def copy_submission(src: Path, dest: Path, notes: list[str]) -> None:
    """Copy the submission, note CRLF endings, and keep Compose from picking its own project name.

    Symbolic links that lead outside the submission are not copied: a bind mount or a
    build context would otherwise reach the grading host's files through them.
    """
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    crlf, dropped = [], []
    for path in sorted(dest.rglob("*")):
        if path.is_symlink():
            if not inside(path, dest):
                dropped.append(f"{path.relative_to(dest)} → {os.readlink(path)}")
                path.unlink()
            continue
        if not path.is_file() or ".git" in path.relative_to(dest).parts:
            continue
        if is_text_source(path):
            if has_crlf(path):
                crlf.append(str(path.relative_to(dest)))
            if path.name == ".env":
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                # blanked, not removed: messages about .env keep the student's line numbers
                kept = ["" if l.strip().startswith("COMPOSE_") else l
                        for l in data.decode("utf-8", "replace").splitlines()]
                path.write_text("\n".join(kept) + "\n")
    if dropped:
        notes.append("Liens symboliques ignorés, car ils pointent hors du dossier rendu : " +
                     ", ".join(dropped) + ". Le correcteur ne lit que les fichiers du TP ; copiez le "
                     "fichier voulu dans le dossier au lieu d'un lien.")
    if crlf:
        notes.append(crlf_note(crlf))


def budget_s(lab: Lab) -> float:
    """The lab's wall-clock budget; AUTOGRADER_BUDGET_S overrides it (slow machines, tests)."""
    try:
        return float(os.environ.get("AUTOGRADER_BUDGET_S", "")) or lab.budget_s
    except ValueError:
        return lab.budget_s


def grade(lab: Lab, submission: Path, sandbox_factory: Optional[Callable[[], Sandbox]] = None) -> Report:
    """Grade ``submission`` (a folder) for ``lab``. Docker resources are always removed. The
    sandbox is on the lab's engine: Docker, or Podman where one answers for a Podman lab."""
    submission = Path(submission)
    if sandbox_factory is None:
        sandbox_factory = podman.sandbox_factory(podman.find_podman()) if lab.engine == "podman" else Sandbox
    if not submission.is_dir():
        raise GraderUnavailable(f"Dossier introuvable ou illisible : {submission}",
                                f"Folder not found or unreadable: {submission}")
    started = time.monotonic()
    notes: list[str] = []
    results: list[CheckResult] = []
    oversized = too_large(submission, notes)
    if oversized is not None:
        results = [CheckResult(c.id, c.title, c.points, 0.0, Status.FAILED, oversized.message())
                   for c in lab.checks]
        return Report(lab=lab.id, title=lab.title, results=results,
                      duration_s=time.monotonic() - started, notes=notes)
    g: Optional[Grading] = None
    with tempfile.TemporaryDirectory(prefix="autograder-", ignore_cleanup_errors=True) as tmp, \
            sandbox_factory() as sandbox:
        sandbox.internet = lab.internet
        workdir = Path(tmp) / lab.id
        try:
            copy_submission(submission, workdir, notes)
        except OSError as exc:
            raise GraderUnavailable(f"Impossible de copier le rendu {submission} : {exc}",
                                    f"Cannot copy submission {submission}: {exc}") from None
        g = Grading(lab, workdir, sandbox, deadline=started + budget_s(lab), notes=notes)
        if lab.prepare:
            lab.prepare(g)
        g.refused = review(g)
        status_by_id: dict[str, Status] = {}
        for check in lab.checks:
            result = run_check(check, g, status_by_id)
            status_by_id[check.id] = result.status
            if result.skipped_here:
                g.not_here.add(check.id)
            results.append(result)
    if g.daemon_lost:
        notes.append("Docker a cessé de répondre pendant la correction : elle est incomplète. Une fois "
                     "Docker relancé, supprimez ce qui reste avec `python -m autograder clean` puis "
                     "relancez la correction.")
    return Report(lab=lab.id, title=lab.title, results=results,
                  duration_s=time.monotonic() - started, notes=notes, incomplete=g.daemon_lost)


def review(g: Grading) -> Optional[Fail]:
    """Read the Compose file (or the lab's own reviewer) before anything runs; what it asks for that
    the grader refuses."""
    if g.lab.review is not None:
        return g.lab.review(g)
    if not uses_compose(g.lab):
        return None
    try:
        return g.compose().refused()
    except Refused as exc:
        return exc
    except Fail:
        return None  # missing or invalid file: the static checks report it


ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")


def student_text(text: str, workdir: Optional[Path]) -> str:
    """A message as the student should read it: no terminal colour codes, and the student's own
    relative paths instead of the grader's temporary copy (``/tmp/autograder-…/NN-slug/x`` → ``x``)."""
    text = ANSI.sub("", text)
    for root in {str(workdir), str(workdir.resolve())} if workdir else ():
        text = text.replace(root + "/", "").replace(root, ".")
    return text


def run_check(check: Check, g: Grading, status_by_id: dict[str, Status]) -> CheckResult:
    def result(status: Status, message: str, t0: float) -> CheckResult:
        earned = check.points if status is Status.PASSED else 0.0
        return CheckResult(check.id, check.title, check.points, earned, status,
                           student_text(message, getattr(g, "workdir", None)), time.monotonic() - t0)

    t0 = time.monotonic()
    if g.refused is not None and not check.static:
        return result(Status.FAILED, g.refused.message(), t0)
    if g.daemon_lost and not check.static:
        return result(Status.ERROR, "Non évalué : Docker ne répond plus.", t0)
    blocked = [r for r in check.requires if status_by_id.get(r) is not Status.PASSED]
    if blocked and all(r in g.not_here for r in blocked):
        skipped = result(Status.SKIPPED, "Non évalué ici : dépend de " + ", ".join(blocked) +
                         ", qui ne peut pas être évalué sur cette machine (voir son message).", t0)
        skipped.skipped_here = True
        return skipped
    if blocked:
        return result(Status.SKIPPED, "Non évalué : dépend de " + ", ".join(blocked) +
                      " qui n'a pas réussi. Corrigez d'abord ce point.", t0)
    if time.monotonic() > g.deadline:
        return result(Status.FAILED, f"Non évalué : le temps total de correction ({int(budget_s(g.lab))} s) "
                                     "est dépassé.", t0)
    try:
        note = check.verify(g)
        return result(Status.PASSED, note or "", t0)
    except GraderUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - every outcome becomes a result
        if not isinstance(exc, Skip) and not check.static and not g.sandbox.alive():
            g.daemon_lost = True
            return result(Status.ERROR, f"Non évalué : Docker a cessé de répondre pendant cette "
                                        f"vérification ({type(exc).__name__}).", t0)
        if isinstance(exc, Fail):
            failed = result(Status.FAILED, exc.message(), t0)
            failed.absent = isinstance(exc, NotYet)
            return failed
        if isinstance(exc, Skip):
            skipped = result(Status.SKIPPED, f"Non évalué ici : {exc}", t0)
            skipped.skipped_here = True
            return skipped
        if isinstance(exc, DockerStepError):
            detail = f"\n{exc.output}" if exc.output else ""
            return result(Status.FAILED, f"Attendu : l'étape Docker réussit.\nObservé : {exc}{detail}\n"
                                         "À faire : relancez la commande à la main pour voir l'erreur "
                                         "complète.", t0)
        # A grader bug must not hide the other checks.
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return result(Status.ERROR, f"Erreur interne du correcteur ({type(exc).__name__}: {exc} — "
                                    f"{Path(last.filename).name}:{last.lineno}). Signalez-la à "
                                    "l'enseignant ; ce point n'est pas compté.", t0)
