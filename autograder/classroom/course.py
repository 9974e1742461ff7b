"""The nbgrader course, without JupyterHub: configuration and the instructor's cycle.

``nbgrader_config.py`` (repository root) calls :func:`configure`; the ``make`` targets of
``mk/nbgrader.mk`` call ``python -m autograder.classroom.course <step>``:

* ``release [LAB…]`` — ``nbgrader generate_assignment`` for every lab of ``labs/``, or for the
  named ones (``make release LAB=01``), which also adds the assignment to the gradebook, into
  ``release/``;
* ``collect SRC`` — a folder ``<student>/<lab>/…`` or a zip of one (an LMS export) → ``submitted/``
  (a student who handed in files only gets the released notebook, whose grade cells do the work);
  ``nbgrader zip_collect`` also works (``downloaded/<lab>/archive/``), with the same layout;
* ``grade``    — ``nbgrader autograde LAB --student S`` of each submission new or changed since its
  last grading (:mod:`autograder.classroom.incremental`, ``build/nbgrader/state.json``; ``--force`` all,
  ``--student``/``--lab`` some); exits 1 naming the submissions whose grading could not run (no
  Docker…), so that no 0 is mistaken for a grade;
* ``feedback`` — ``nbgrader generate_feedback`` (HTML per student and lab) into ``feedback/``, with
  the French template of :mod:`autograder.classroom.exports` (no traceback, no host path);
* ``export``   — ``build/nbgrader/grades.csv`` (student × lab, empty score when not handed in) and
  ``grades-wide.csv`` (student × labs, total on 20), read from the gradebook by
  :mod:`autograder.classroom.exports`;
  ``python -m autograder.classroom.analytics`` then draws the class report (``build/nbgrader/rapport.html``).

At autograde only the nbgrader cells run (:class:`GradeCellsExecute`): the hands-on cells of the
lab notebooks (``!docker build -t lab01 .``, ``!docker run -p 8000 …``, ``make check``) would create
unlabelled objects, collide between students and reach outside the submission. An instructor's
hidden checks (``AUTOGRADER_HIDDEN_CHECKS``, :mod:`autograder.classroom.hidden`) get grade cells at release.

Everything is relative to a course root (the folder holding ``nbgrader_config.py``); ``--root``
points elsewhere (the tests use a temporary course). Reference solutions live in ``solutions/``,
outside the source directory, so nbgrader never releases them.

Parallel grading: nbgrader writes every grade to one SQLite gradebook, which is not safe for
concurrent writers, and ``nbgrader autograde`` runs one notebook after another; so nbgrader stays
one sequential process. What is slow is the grading itself (builds, stacks): ``grade --workers N``
(``make grade NBGRADER_WORKERS=N``, default: the number of cores) first grades every folder to be
graded with N parallel graders (:mod:`autograder.engine.batch`: one child process each, isolated by its
Docker job label), keeps the reports in ``build/nbgrader/reports/`` named by
the lab and a digest of the folder's files, and the grade cells then read them (a folder whose
files differ, or a failed grading, is graded again inside the cell). Measured on 2 cores: the six
gradings of the end-to-end test take 90 s on 2 workers and 96 s one after the other (the machine,
not nbgrader, is the limit there); more cores should gain more.

What took points from gradings beside other Docker work, found by experiment (issue 17; one
grading was once seen losing 01-layer-cache beside a mutant, with other sessions on the engine):
``python -m autograder clean`` removed every labelled object, an in-flight grading's image and
containers included (lab 01 lost 01-http-health, 01-non-root and 01-exec-form, or 01-build with
the classic builder); the disk guard charged a grading every byte written on the engine's disk
since it started, so 400 MB written beside a lab-01 grading limited to 300 MB stopped it at
01-exec-form and 01-layer-cache (the last build); a pytest session ending beside a grading removed
the ``python:latest`` alias under the base-latest mutant's rebuild (01-layer-cache lost). Fixed:
each grading holds a lease that ``clean`` respects (:mod:`autograder.engine.lease`), the disk guard
charges a job only what its labels hold outside its builds, the alias stays while a grading is in
flight. Not the cause: BuildKit sharing identical steps between concurrent builds (a step joined
while or after another build runs it reads ``CACHED`` in the joining build's log); no loss either
with 3 to 8 concurrent gradings of lab 01 (cold or warm cache, BuildKit or classic builder). ``make stress`` compares 1 and 3 jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

COURSE_ID = "conteneurisation-4data"
SOURCE = "labs"
LAB_DIR = re.compile(r"^\d{2}-[a-z0-9-]+$")
# Cell timeout (s) at autograde: the first grade cell of a lab builds and runs the whole lab.
EXECUTE_TIMEOUT_S = 1800
# nbgrader's own copy filter: never copied from a submission (checkpoints, bytecode).
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__"]
REPORT_CACHE_ENV = "AUTOGRADER_REPORT_CACHE"
WORKERS_ENV = "NBGRADER_WORKERS"


# ---------------------------------------------------------------------------------------------
# Configuration (derived from the folders)
# ---------------------------------------------------------------------------------------------
def lab_folders(root: Path, kind: str = SOURCE) -> dict[str, Path]:
    base = root / kind
    if not base.is_dir():
        return {}
    return {p.name: p for p in sorted(base.iterdir()) if p.is_dir() and LAB_DIR.match(p.name)}


def _files(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part in (".ipynb_checkpoints", "__pycache__") for part in rel.parts):
            out.append(rel.as_posix())
    return out


def exclude_overwriting(root: Path) -> dict[str, list[str]]:
    """Per lab, every non-notebook file of ``labs/NN-slug/``: at autograde, the student's version
    is graded, never replaced by the starter's."""
    return {lab: [f for f in _files(folder) if not f.endswith(".ipynb")]
            for lab, folder in lab_folders(root).items()}


def file_extensions(root: Path) -> list[str]:
    """Extensions (as ``os.path.splitext`` gives them) of every file of the labs and their
    solutions: what ``zip_collect`` must accept. ``""`` covers Dockerfile and .dockerignore."""
    exts = {".ipynb", ""}
    for kind in (SOURCE, "solutions"):
        for folder in lab_folders(root, kind).values():
            exts.update(os.path.splitext(f)[1] for f in _files(folder))
    return sorted(exts)


def configure(c, root: Path) -> None:
    """Fill the nbgrader config ``c`` for the course rooted at ``root``."""
    from autograder.classroom.course import (AddHiddenCells, GradeCellsExecute,  # classes nbgrader instantiates
                                   KeepAnswerCells)
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)

    root = Path(root).resolve()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = SOURCE
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.CourseDirectory.ignore = IGNORE
    c.Execute.timeout = EXECUTE_TIMEOUT_S
    c.Autograde.exclude_overwriting = exclude_overwriting(root)
    # Autograde runs the grade cells only (see GradeCellsExecute), and strips from stderr the
    # warnings some libraries print at import time, should one ever reach a grade cell.
    c.Autograde.autograde_preprocessors = [GradeCellsExecute, IgnorePattern, ClearMetadataPreprocessor,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                           CheckCellMetadata]
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = r"(Deprecation|Future|Resource|User)Warning|^\s*warnings\.warn"
    from autograder.classroom.hidden import hidden_dir
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import ClearSolutions

    # The question cells' answer cells are released as they are (see KeepAnswerCells); the
    # instructor's hidden checks get their grade cells at release.
    generate = [KeepAnswerCells if p is ClearSolutions else p
                for p in GenerateAssignment.class_traits()["preprocessors"].default()]
    c.GenerateAssignment.preprocessors = ([AddHiddenCells] if hidden_dir() is not None else []) + generate
    c.FileNameCollectorPlugin.valid_ext = file_extensions(root)
    # zip_collect: files extracted as <anything>/<student>/<lab>/<path in the lab>.
    labs = "|".join(re.escape(lab) for lab in lab_folders(root))
    c.FileNameCollectorPlugin.named_regexp = (
        rf".*/(?P<student_id>[A-Za-z0-9_.@-]+)/(?:{labs})/(?P<file_id>.+)$")
    # French stubs for autograded question cells (### BEGIN SOLUTION … in a lab notebook).
    c.ClearSolutions.code_stub = {"python": "# VOTRE CODE ICI\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "VOTRE RÉPONSE ICI"


def _grade_cells_execute():
    from nbgrader.preprocessors import Execute

    class GradeCellsExecute(Execute):
        """nbgrader's Execute, running only nbgrader cells (grade and solution cells).

        The lab notebooks also hold hands-on cells (``!docker build -t lab01 .``,
        ``!docker run -p 127.0.0.1:8000:8000 --name lab01 …``, ``make check``): run at autograde,
        they would create unlabelled containers and images, collide on names and ports between
        students, and reach outside the submission folder. The grade cells grade the submitted
        files on their own, so at autograde the other code cells are kept but not run.
        """

        def preprocess_cell(self, cell, resources, index):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and not (meta.get("grade") or meta.get("solution")):
                return cell, resources
            return super().preprocess_cell(cell, resources, index)

    return GradeCellsExecute


def _add_hidden_cells():
    import nbformat
    from nbgrader.preprocessors import NbGraderPreprocessor

    class AddHiddenCells(NbGraderPreprocessor):
        """At generate_assignment: append one grade cell per hidden check of the lab (the folder
        named by AUTOGRADER_HIDDEN_CHECKS), its body an nbgrader hidden test."""

        def preprocess(self, nb, resources):
            from autograder.classroom.hidden import hidden_checks, hidden_dir
            from autograder.classroom.nbgrade import hidden_cells
            from autograder.registry import get_lab

            lab = get_lab(resources["nbgrader"]["assignment"])
            for cell in hidden_cells(hidden_checks(lab, hidden_dir())):
                cell["source"] = "".join(cell["source"])  # in memory, nbformat keeps strings
                nb.cells.append(nbformat.from_dict(cell))
            return nb, resources

    return AddHiddenCells


def _keep_answer_cells():
    from nbgrader.preprocessors import ClearSolutions

    from autograder.classroom.nbgrade import ANSWER_SUFFIX

    class KeepAnswerCells(ClearSolutions):
        """nbgrader's ClearSolutions, leaving the question cells' answer cells as they are.

        ClearSolutions replaces a solution cell without ``### BEGIN SOLUTION`` markers by the code
        stub (``raise NotImplementedError()``): the released notebook would lose ``reponse_xxx = ""``
        and its grade cell would fail on a NameError. These cells hold no solution (the reference
        answers live in the tests, not in ``labs/``), so there is nothing to clear."""

        def preprocess_cell(self, cell, resources, index):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if cell.cell_type == "code" and re.match(r"^\d{2}-q-.+" + re.escape(ANSWER_SUFFIX) + "$", grade_id):
                return cell, resources
            return super().preprocess_cell(cell, resources, index)

    return KeepAnswerCells


_LAZY = {"GradeCellsExecute": _grade_cells_execute, "AddHiddenCells": _add_hidden_cells,
         "KeepAnswerCells": _keep_answer_cells}


def __getattr__(name):  # nbgrader is imported only when a preprocessor is asked for
    if name in _LAZY:
        cls = _LAZY[name]()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


# ---------------------------------------------------------------------------------------------
# The cycle
# ---------------------------------------------------------------------------------------------
def nbgrader(root: Path, *args: str, check: bool = True,
             env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in the course root (where it reads nbgrader_config.py)."""
    # nbgrader runs `alembic` (the gradebook's migrations) from PATH: the venv's bin/ must be on it.
    env = dict(os.environ, **(env or {}),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, text=True,
                          capture_output=True, env=env)
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"nbgrader {' '.join(args)} a échoué (code {proc.returncode})")
    return proc


def find_lab(root: Path, name: str) -> Optional[str]:
    """The lab of ``labs/`` that ``name`` designates: its folder name, its number (``1``, ``01``)
    or its slug (``images-conteneurs``); None when none does."""
    labs = list(lab_folders(root))
    name = name.strip().strip("/").rpartition("/")[2]
    return _lab_of(name, labs) or next((lab for lab in labs if lab[3:] == name), None)


def release(root: Path, labs: Optional[list[str]] = None) -> list[str]:
    """generate_assignment (which also adds the assignment to the gradebook) for each of ``labs``
    (folder names, numbers or slugs: ``make release LAB=01``), or for every lab in one nbgrader
    run (an assignment glob). An unknown lab stops before anything is released (exit 2)."""
    chosen = []
    for name in labs or []:
        lab = find_lab(root, name)
        if lab is None:
            print(f"TP « {name} » introuvable dans {SOURCE}/ (TP connus : "
                  f"{', '.join(lab_folders(root)) or 'aucun'})", file=sys.stderr)
            raise SystemExit(2)
        chosen.append(lab)
    for lab in chosen or ["*"]:
        nbgrader(root, "generate_assignment", lab, "--force")
    from autograder.classroom.ci import install_release  # the CI jobs that grade each push (GitLab CI, GitHub Classroom)

    install_release(root, chosen or list(lab_folders(root)))
    return chosen or list(lab_folders(root))


def _lab_of(name: str, labs: list[str]) -> Optional[str]:
    if name in labs:
        return name
    m = re.match(r"^(\d{1,2})\b", name)
    if m:
        return next((lab for lab in labs if int(lab[:2]) == int(m.group(1))), None)
    return None


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract a zip, refusing members that would land outside ``dest`` and links."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if not str(target).startswith(str(dest.resolve()) + os.sep):
                raise SystemExit(f"archive refusée : {info.filename} sort du dossier")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # a symbolic link: skipped
            zf.extract(info, dest)


def collect(root: Path, source: Path, _nested: bool = False) -> dict[str, list[str]]:
    """Copy ``<student>/<lab>/…`` (a folder, or a zip holding one, possibly under one top folder)
    into ``submitted/<student>/<lab>/``, replacing an earlier copy; returns {lab: [students]}.

    The students' own archives (``rendu-NN-slug.zip`` of ``make handin``, each in that layout) found
    anywhere in ``source`` are collected too: an LMS's bulk download (Moodle's « Télécharger tous
    les travaux remis ») puts each one in a folder named after the student. One level only: an
    archive inside a hand-in is not opened."""
    labs = list(lab_folders(root))
    collected: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="collect-") as tmp:
        if source.is_file() and zipfile.is_zipfile(source):
            _safe_extract(source, Path(tmp))
            source = Path(tmp)
        if not source.is_dir():
            raise SystemExit(f"ni dossier ni archive zip : {source}")
        if not _nested:
            for inner in sorted(source.rglob("rendu-*.zip")):
                if inner.is_file() and not inner.is_symlink() and zipfile.is_zipfile(inner):
                    for lab, students in collect(root, inner, _nested=True).items():
                        collected.setdefault(lab, []).extend(students)
        entries = [p for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
        # A zip often wraps everything in one top folder.
        if len(entries) == 1 and not any(_lab_of(p.name, labs) for p in entries[0].iterdir() if p.is_dir()):
            entries = [p for p in entries[0].iterdir() if p.is_dir()]
        for student_dir in sorted(entries):
            for lab_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
                lab = _lab_of(lab_dir.name, labs)
                if lab is None:
                    continue
                dest = root / "submitted" / student_dir.name / lab
                if dest.exists():
                    shutil.rmtree(dest)
                shutil.copytree(lab_dir, dest, symlinks=True,
                                ignore=shutil.ignore_patterns(*IGNORE))
                # Students often hand in their files only: the grade comes from the files, and the
                # grade cells are restored from the gradebook at autograde, so the released
                # notebook stands in for a missing one (without it nbgrader gives 0).
                released = root / "release" / lab / "enonce.ipynb"
                if not any(dest.glob("*.ipynb")) and released.is_file():
                    shutil.copy(released, dest / released.name)
                stamp = dest / "timestamp.txt"
                if not stamp.exists():
                    newest = max((p.stat().st_mtime for p in lab_dir.rglob("*") if p.is_file()),
                                 default=datetime.now().timestamp())
                    stamp.write_text(datetime.fromtimestamp(newest, timezone.utc)
                                     .strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
                collected.setdefault(lab, []).append(student_dir.name)
    return collected


def submitted_labs(root: Path) -> list[str]:
    base = root / "submitted"
    return sorted({p.name for s in base.iterdir() if s.is_dir() for p in s.iterdir() if p.is_dir()}
                  if base.is_dir() else set())


def grade_ahead(root: Path, workers: int, subs: Optional[list] = None, out=None) -> Path:
    """Grade the submitted folders ahead with ``workers`` parallel graders and keep the reports
    where the grade cells look for them (:func:`autograder.classroom.incremental.grade_ahead`)."""
    from autograder.classroom import incremental

    return incremental.grade_ahead(root, workers, subs, out)


def grade(root: Path, workers: int = 1, *, force: bool = False, student: Optional[str] = None,
          lab: Optional[str] = None, out=None) -> list:
    """Autograde the submissions new or changed since their last grading (all with ``force``;
    ``student`` / ``lab`` select some, always regraded), ``workers`` gradings ahead in parallel
    (:func:`autograder.classroom.incremental.grade`); returns the submissions graded."""
    from autograder.classroom import incremental

    return incremental.grade(root, workers, force=force, student=student, lab=lab, out=out)


def ungraded(root: Path, subs: Optional[list] = None) -> list[str]:
    """``student/lab`` of the autograded notebooks (of ``subs``, default all) whose grading could
    not run (no Docker, grader stopped): their 0 says nothing about the work, they must be graded
    again."""
    import nbformat

    found = []
    paths = (sorted((root / "autograded").glob("*/*/*.ipynb")) if subs is None else
             [p for s in subs for p in sorted((root / "autograded" / s.student / s.lab).glob("*.ipynb"))])
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if any(o.get("output_type") == "error" and str(o.get("evalue", "")).startswith("Correction impossible")
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])):
            found.append(f"{path.parent.parent.name}/{path.parent.name}")
    return found


def feedback(root: Path) -> list[str]:
    labs = sorted({p.name for s in (root / "autograded").iterdir() if s.is_dir() for p in s.iterdir()}
                  if (root / "autograded").is_dir() else set())
    if labs:
        nbgrader(root, "generate_feedback", "*", "--force")
    return labs


def export(root: Path) -> Path:
    """``build/nbgrader/grades.csv`` and ``grades-wide.csv`` from the gradebook, an empty score
    for a lab not handed in (:mod:`autograder.classroom.exports`); returns the path of grades.csv."""
    from autograder.classroom import exports

    return exports.export(root)[0]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.classroom.course",
                                description="Cycle nbgrader du cours sans JupyterHub.")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                   help="racine du cours (dossier de nbgrader_config.py)")
    sub = p.add_subparsers(dest="step", required=True)
    rel = sub.add_parser("release", help="generate_assignment pour chaque TP")
    rel.add_argument("labs", nargs="*")
    col = sub.add_parser("collect", help="dossier <étudiant>/<TP>/… ou archive zip → submitted/")
    col.add_argument("source", type=Path)
    gr = sub.add_parser("grade", help="autograde des rendus nouveaux ou modifiés depuis leur dernière correction")
    gr.add_argument("--workers", type=int, default=int(os.environ.get(WORKERS_ENV, "") or os.cpu_count() or 1),
                    help="corrections en parallèle avant l'autograde (défaut : $NBGRADER_WORKERS ou le "
                         "nombre de cœurs)")
    gr.add_argument("--force", action="store_true", help="tout corriger à nouveau, même inchangé")
    gr.add_argument("--student", help="seulement cet étudiant (corrigé à nouveau)")
    gr.add_argument("--lab", help="seulement ce TP : 01 ou 01-images-conteneurs (corrigé à nouveau)")
    sub.add_parser("feedback", help="retours HTML par étudiant")
    sub.add_parser("export", help="notes en CSV")
    args = p.parse_args(argv)
    root = args.root.resolve()
    if args.step == "release":
        print("Publiés dans release/ :", ", ".join(release(root, args.labs)))
    elif args.step == "collect":
        for lab, students in collect(root, args.source).items():
            print(f"{lab} : {len(students)} rendu{'s' if len(students) > 1 else ''} ({', '.join(students)})")
    elif args.step == "grade":
        import signal

        signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM as Ctrl-C: gradings in flight clean up
        try:
            done = grade(root, args.workers, force=args.force, student=args.student or None,
                         lab=args.lab or None)
        except KeyboardInterrupt:
            print("Correction interrompue ; les corrections terminées sont enregistrées, relancez "
                  "`make grade` pour les autres.", file=sys.stderr)
            return 130
        failed = ungraded(root, done)
        if failed:
            print("Correction impossible (relancez `make grade` une fois Docker disponible) : "
                  + ", ".join(failed), file=sys.stderr)
            return 1
    elif args.step == "feedback":
        print("Retours dans feedback/ :", ", ".join(feedback(root)))
    elif args.step == "export":
        from autograder.classroom import exports

        long_path, wide_path, unsure = exports.export(root)
        print("Notes :", long_path, "et", wide_path)
        if unsure:
            print(exports.summary_fr(unsure), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
