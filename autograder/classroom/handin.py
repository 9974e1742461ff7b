"""Students hand in a lab with one command: ``make handin LAB=01 [ETUDIANT=prenom.nom]``.

``python -m autograder.classroom.handin LAB [--etudiant ID] [--output DIR]`` packs the student's working
folder ``labs/NN-slug/`` into ``rendu-NN-slug.zip`` at the repository root (the folder JupyterLab's
file browser opens on, so the student finds it and uploads it to the LMS). Inside, the layout is
the one ``make collect`` reads (:func:`autograder.classroom.course.collect`): ``<étudiant>/<NN-slug>/…``, plus
``timestamp.txt`` (the hand-in time, nbgrader's format), which ``collect`` keeps.

The student id comes from ``--etudiant`` (``ETUDIANT=``), else from the local part of
``git config user.email``, else from the login name; the id used is always printed. A generic login
(``root``, ``jovyan``…, as in the course container) is refused: it would name nobody.

Left out, each with its reason printed (what is left out is listed, never silently dropped):

* **secrets**: ``.env`` and every ``*.env`` / ``.env.*`` file except templates (``*.example``,
  ``*.sample``, ``*.template``); everything under a ``secrets/`` folder except templates; private
  keys and certificates' keys (``*.key``, ``*.pem``, ``*.p12``, ``*.pfx``, ``id_rsa``…); credential
  files (``.netrc``, ``.pgpass``, ``.git-credentials``, ``.docker/``). The graders of labs 01, 06,
  08, 09 and 12 write their own ``.env`` and secret files, so nothing a check needs is lost.
* **what the lab's own ``.gitignore`` files ignore** (gitignore semantics, through ``pathspec``):
  a student who told git a file must never be committed does not want it handed in either (lab 12
  grades exactly that). The lab's ``.dockerignore`` is not used: it keeps files out of an *image*
  (the notebook, the README, tests) that still belong to the hand-in.
* **build output and caches**: ``__pycache__``, ``.ipynb_checkpoints``, ``node_modules``,
  ``.venv``/``venv``, ``.git``, ``target/`` and ``logs/`` (dbt, Maven, Cargo), ``dbt_packages``,
  ``*.pyc``, ``*.log``, earlier ``rendu-*.zip``;
* files over :data:`MAX_FILE_MB` (data sets, images saved with ``docker save``);
* symbolic links leading out of the lab folder, links to folders, anything not a regular file.
  A link to a file inside the folder is stored as that file (``collect`` drops links).

The archive is written to a temporary file, then checked before it takes its name: every member
inside ``<étudiant>/<NN-slug>/``, no excluded file, total size and file count under the caps, the
notebook present and readable, the zip itself readable back. A notebook whose course questions
are all unanswered, or whose grading cells were deleted, gets a warning (the hand-in still
happens). Exit status: 0 written, 1 refused by those checks, 2 misuse (unknown lab, bad id).
Messages are French; no traceback reaches the student.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Optional

from autograder.classroom.course import SOURCE, find_lab, lab_folders

NOTEBOOK = "enonce.ipynb"
STAMP = "timestamp.txt"
MAX_FILE_MB = 10
MAX_TOTAL_MB = 50
MAX_FILES = 2000
# What the student id may hold: the characters of the zip_collect regexp (nbgrader_config.py),
# starting with a letter or a digit (never ".", "..", "-x").
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
GENERIC_LOGINS = {"root", "jovyan", "user", "admin", "ubuntu", "debian", "vscode", "codespace", "student",
                  "etudiant", "runner", "nobody"}

BUILD_DIRS = {"__pycache__", ".ipynb_checkpoints", "node_modules", ".venv", "venv", ".git", "target", "logs",
              "dbt_packages", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".cache"}
BUILD_FILES = re.compile(r"(\.py[co]|\.log|^rendu-.*\.zip|^\.DS_Store)$")
TEMPLATE = re.compile(r"\.(example|sample|template|dist)$")
SECRET_DIRS = {"secrets", ".docker", ".ssh", ".aws", ".gnupg"}
SECRET_FILES = re.compile(r"(^\.env$|\.env$|^\.env\.|\.(key|pem|p12|pfx|jks|keystore|kdbx)$|^id_(rsa|dsa|ecdsa|ed25519)"
                          r"(?!.*\.pub$)|^\.netrc$|^\.pgpass$|^\.git-credentials$|^credentials(\.json)?$)")


class HandinError(Exception):
    """A hand-in that cannot be written; ``code`` is the exit status (1 refused, 2 misuse)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass
class Plan:
    """What goes into the archive (path in the lab → file on disk) and what stays out (path → why)."""
    files: dict[str, Path] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# What goes in
# ---------------------------------------------------------------------------------------------
def excluded(rel: str) -> Optional[str]:
    """Why the file at ``rel`` (a path inside the lab, with ``/``) never goes into a hand-in, or
    None. Used to choose the files and again to check the written archive."""
    parts = PurePosixPath(rel).parts
    name = parts[-1]
    if any(p in BUILD_DIRS for p in parts[:-1]) or BUILD_FILES.search(name):
        return "fichier produit (cache, build, journal)"
    if TEMPLATE.search(name):
        return None
    if any(p in SECRET_DIRS for p in parts[:-1]) or SECRET_FILES.search(name):
        return "secret (mot de passe, clé) : ne se rend jamais"
    return None


def _gitignored(folder: Path):
    """A function telling whether a path of ``folder`` is ignored by a ``.gitignore`` inside it
    (each file's patterns relative to its own folder, as git reads them)."""
    import pathspec

    specs = []
    for ignore in sorted(folder.rglob(".gitignore")):
        rel = ignore.parent.relative_to(folder)
        if any(p in BUILD_DIRS for p in rel.parts) or not ignore.is_file():
            continue
        try:
            lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
            specs.append((rel.as_posix(), pathspec.PathSpec.from_lines("gitwildmatch", lines)))
        except (OSError, ValueError):
            continue  # an unreadable or malformed .gitignore excludes nothing

    def ignored(rel: str) -> bool:
        for base, spec in specs:
            if base == ".":
                if spec.match_file(rel):
                    return True
            elif rel.startswith(base + "/") and spec.match_file(rel[len(base) + 1:]):
                return True
        return False

    return ignored


def plan(folder: Path) -> Plan:
    """Choose the files of ``folder`` (a lab) that a hand-in holds."""
    folder = folder.resolve()
    out = Plan()
    ignored = _gitignored(folder)
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            rel = (here / d).relative_to(folder).as_posix()
            if (here / d).is_symlink():
                out.left_out[rel + "/"] = "lien symbolique vers un dossier"
            elif d in BUILD_DIRS:
                out.left_out[rel + "/"] = "dossier produit (cache, build, journal)"
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            path = here / f
            rel = path.relative_to(folder).as_posix()
            why = _why_not(path, rel, folder, ignored)
            if why:
                out.left_out[rel] = why
            else:
                out.files[rel] = path
    return out


def _why_not(path: Path, rel: str, folder: Path, ignored) -> Optional[str]:
    if path.is_symlink():
        target = path.resolve()
        if folder not in target.parents:
            return "lien symbolique qui sort du dossier du TP"
        why = excluded(target.relative_to(folder).as_posix())
        if why:  # a link named config.txt leading to .env is still the .env
            return f"lien vers un fichier exclu ({why})"
    if not path.is_file():
        return "ni fichier ni dossier (lien cassé, socket…)"
    why = excluded(rel)
    if why:
        return why
    if rel != NOTEBOOK and ignored(rel):
        return "ignoré par le .gitignore du TP"
    if path.stat().st_size > MAX_FILE_MB * 1024 * 1024:
        return f"trop gros (plus de {MAX_FILE_MB} Mo)"
    return None


# ---------------------------------------------------------------------------------------------
# The archive, checked before it takes its name
# ---------------------------------------------------------------------------------------------
def check_archive(archive: Path, student: str, lab: str) -> list[str]:
    """Problems (French) that forbid handing in ``archive``; empty when it is fit to upload."""
    prefix = f"{student}/{lab}/"
    problems = []
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            bad = zf.testzip()
            if bad:
                problems.append(f"archive corrompue : {bad} ne se relit pas")
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                problems.append("archive incohérente : un fichier y figure deux fois")
            for info in infos:
                name = info.filename
                rel = name[len(prefix):]
                parts = PurePosixPath(name).parts
                if not name.startswith(prefix) or ".." in parts or name.startswith("/") or "\\" in name or not rel:
                    problems.append(f"{name} : hors de {prefix}")
                elif (info.external_attr >> 16) & 0o170000 == 0o120000:
                    problems.append(f"{rel} : lien symbolique (make collect l'ignorerait)")
                elif rel != STAMP and excluded(rel):
                    problems.append(f"{rel} : {excluded(rel)}")
            total = sum(i.file_size for i in infos)
            if total > MAX_TOTAL_MB * 1024 * 1024:
                problems.append(f"{total / 1024 / 1024:.0f} Mo de fichiers, plus que les {MAX_TOTAL_MB} Mo permis : "
                                "retirez les données et les images sauvegardées du dossier du TP")
            if len(infos) > MAX_FILES:
                problems.append(f"{len(infos)} fichiers, plus que les {MAX_FILES} permis")
            if prefix + NOTEBOOK not in names:
                problems.append(f"le carnet {NOTEBOOK} manque")
            else:
                try:
                    import nbformat

                    nbformat.reads(zf.read(prefix + NOTEBOOK).decode("utf-8"), as_version=4)
                except Exception as exc:  # any reason nbformat gives: the notebook is unusable
                    problems.append(f"le carnet {NOTEBOOK} est illisible ({type(exc).__name__}) : "
                                    "rouvrez-le dans JupyterLab, enregistrez-le, puis relancez make handin")
    except (zipfile.BadZipFile, OSError) as exc:
        problems.append(f"archive illisible : {exc}")
    if not STUDENT_ID.match(student):
        problems.append(f"identifiant « {student} » refusé par make collect")
    return problems


def notebook_warnings(notebook: Path, lab: str) -> list[str]:
    """What the student probably forgot in the notebook (the hand-in still happens)."""
    from autograder.classroom.nbgrade import ANSWER_SUFFIX, generated_cells
    from autograder.registry import get_lab

    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        cells = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): "".join(c.get("source", ""))
                 for c in nb.get("cells", [])}
        expected = [c["id"] for c in generated_cells(get_lab(lab))
                    if c["metadata"].get("nbgrader", {}).get("grade")]
    except Exception:  # an unreadable notebook is refused by check_archive, with its reason
        return []
    warnings = []
    answers = {k: v for k, v in cells.items() if k and k.endswith(ANSWER_SUFFIX)}
    if answers and all(re.search(r'=\s*""', v) for v in answers.values()):
        warnings.append("aucune réponse aux questions de cours (les cellules reponse_… = \"\" sont vides) : "
                        "répondez-y dans le carnet, enregistrez-le (Ctrl+S), puis relancez make handin")
    missing = [g for g in expected if g not in cells]
    if missing:
        warnings.append(f"{len(missing)} cellule{'s' if len(missing) > 1 else ''} de notation "
                        f"supprimée{'s' if len(missing) > 1 else ''} du carnet ({', '.join(missing[:3])}"
                        f"{'…' if len(missing) > 3 else ''}) : elles seront remises à la correction")
    return warnings


def write(folder: Path, lab: str, student: str, output: Path) -> tuple[Path, Plan, list[str]]:
    """Write ``output/rendu-<lab>.zip`` from ``folder``; returns it, the plan and the warnings.
    Raises :class:`HandinError` when the archive fails its checks (nothing is left behind then)."""
    if not STUDENT_ID.match(student):
        raise HandinError(f"identifiant étudiant « {student} » invalide : lettres, chiffres, « . », « _ », « - » "
                          "ou « @ » seulement, sans espace (ETUDIANT=prenom.nom)", 2)
    chosen = plan(folder)
    if NOTEBOOK not in chosen.files:
        raise HandinError(f"{SOURCE}/{lab}/{NOTEBOOK} introuvable : le carnet du TP fait partie du rendu "
                          "(récupérez-le avec `git checkout -- " f"{SOURCE}/{lab}/{NOTEBOOK}` s'il a été supprimé)")
    output.mkdir(parents=True, exist_ok=True)
    final = output / f"rendu-{lab}.zip"
    fd, tmp = tempfile.mkstemp(prefix=".rendu-", suffix=".zip", dir=output)
    os.close(fd)
    tmp = Path(tmp)
    try:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for rel, path in chosen.files.items():
                if rel != STAMP:
                    zf.write(path, f"{student}/{lab}/{rel}")
            zf.writestr(f"{student}/{lab}/{STAMP}", stamp)
        problems = check_archive(tmp, student, lab)
        if problems:
            raise HandinError("archive refusée :\n" + "\n".join(f"  - {p}" for p in problems))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide it from the host's user (course container)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final, chosen, notebook_warnings(chosen.files[NOTEBOOK], lab)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def guess_student(root: Path) -> tuple[Optional[str], str]:
    """(id, where it came from) without ``--etudiant``: git's user.email, else the login name."""
    try:
        email = subprocess.run(["git", "config", "user.email"], cwd=root, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        email = ""
    local = email.partition("@")[0]
    if local:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", local).strip("._-") or None, "git config user.email"
    try:
        login = getpass.getuser()
    except Exception:  # no login name (some containers): nothing to guess from
        return None, "nom de connexion"
    if login.lower() in GENERIC_LOGINS:
        return None, f"nom de connexion « {login} », qui ne désigne personne"
    return login, "nom de connexion"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own message is English; the student reads French
        self.exit(2, f"Usage : make handin LAB=01 ETUDIANT=prenom.nom ({message})\n")


def main(argv: Optional[list[str]] = None) -> int:
    p = _Parser(prog="python -m autograder.classroom.handin",
                description="Prépare l'archive de rendu d'un TP (rendu-NN-slug.zip).")
    p.add_argument("lab", help="numéro du TP (1, 01) ou nom de son dossier")
    p.add_argument("--etudiant", default=os.environ.get("ETUDIANT") or None,
                   help="votre identifiant (prenom.nom) ; défaut : $ETUDIANT, puis git config user.email")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                   help="racine du dépôt (dossier de labs/)")
    p.add_argument("--output", type=Path, default=None, help="dossier de l'archive (défaut : la racine du dépôt)")
    args = p.parse_args(argv)
    root = args.root.resolve()
    lab = find_lab(root, args.lab)
    if lab is None:
        print(f"TP « {args.lab} » introuvable dans {SOURCE}/ (TP connus : {', '.join(lab_folders(root)) or 'aucun'}).\n"
              "Usage : make handin LAB=01 ETUDIANT=prenom.nom", file=sys.stderr)
        return 2
    student = args.etudiant
    if student:
        print(f"Identifiant étudiant : {student}")
    else:
        student, source = guess_student(root)
        if not student:
            print(f"Identifiant étudiant inconnu ({source}) : donnez-le, par exemple "
                  f"make handin LAB={lab[:2]} ETUDIANT=prenom.nom", file=sys.stderr)
            return 2
        print(f"Identifiant étudiant : {student} (tiré de {source} ; si ce n'est pas celui que vous donne "
              f"l'enseignant : make handin LAB={lab[:2]} ETUDIANT=prenom.nom)")
    try:
        archive, chosen, warnings = write(root / SOURCE / lab, lab, student, args.output or root)
    except HandinError as exc:
        print(f"Rendu du TP {lab} impossible : {exc}", file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"Rendu du TP {lab} impossible : {exc.strerror or exc} ({exc.filename or ''})", file=sys.stderr)
        return 1
    for rel, why in chosen.left_out.items():
        print(f"  laissé de côté : {rel} — {why}")
    for warning in warnings:
        print(f"[ATTENTION] {warning}")
    size = archive.stat().st_size
    shown = archive.relative_to(root) if root in archive.parents else archive
    print(f"Archive prête : {shown} ({len(chosen.files)} fichier{'s' if len(chosen.files) > 1 else ''}, "
          f"{size / 1024:.0f} Ko), dans {student}/{lab}/.\n"
          "Déposez-la telle quelle sur la plateforme de cours (Moodle…). Relancez make handin après chaque "
          "modification : l'archive est refaite.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
