"""Helpers for the chapter notebooks (``chapters/``): live or demo mode, shell cells, recordings.

A chapter notebook starts with::

    from autograder.notebook import start
    cours = start("1-introduction/03-images-et-conteneurs")

``start`` detects whether a Docker engine answers and registers the ``%%shell`` cell magic:

* **live mode** (a daemon answers): each command of a ``%%shell`` cell really runs, its output is
  streamed, and a non-zero exit code raises (unless the cell says ``--expect-fail``);
* **demo mode** (Binder, a laptop without Docker, ``COURSE_NO_DOCKER=1``): the cell prints the
  output recorded on a machine with Docker, so the notebook still runs from top to bottom.

Values measured in Python (image sizes, build times) go through ``cours.measure(key, fn)``, which
calls ``fn`` in live mode and returns the recorded value in demo mode; plots are drawn from them in
both modes. ``COURSE_RECORD=1`` (``make chapters-record``) writes each notebook's outputs and
values into ``chapters/.recordings/<part>/<notebook>.json``.

Files a notebook writes (``%%writefile Dockerfile``) go to its scratch folder,
``chapters/<part>/_travail/<notebook>/`` (git-ignored, emptied at each start), which is also where
``%%shell`` commands run: ``start`` changes into it. ``COURSE_SCRATCH_DIR`` moves these folders
elsewhere (the tests running notebooks side by side give each run its own).

Everything a notebook creates is named ``cours-…`` (containers, volumes, networks, Compose
projects) or tagged ``cours-…``/``cours/…`` (images); ``cours.cleanup()`` (the last cell, and at
kernel exit) removes those named after a ``cours…`` name that the notebook's cells or scratch files
mention (so notebooks running side by side never remove each other's objects).

A notebook stopped half-way (kernel interrupted or killed: no cleanup, no exit handler) leaves its
objects behind, and running it again would fail on a name in use. So ``start`` (the first cell)
first removes, in live mode, what an earlier run of *this* notebook left: the ``cours…`` objects
named after a name that this notebook's code cells (read from its ``.ipynb`` file, all of them,
not only those run so far) or its previous scratch files mention, the same scoping as
``cleanup()``. It prints one line when it removed something (« Restes d'une exécution interrompue
supprimés : 1 conteneur, 1 image »). ``COURSE_NOTEBOOKS_DIR`` says where the ``.ipynb`` files are
(default ``chapters/``; the tests run renamed copies). Re-running the first cell in a live kernel
therefore also starts the notebook afresh.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import os
import re
import shlex
import signal
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from autograder.engine.builder import compose_env
from autograder.readers.images import course_images

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
RECORDINGS = CHAPTERS / ".recordings"
NO_DOCKER_ENV = "COURSE_NO_DOCKER"
RECORD_ENV = "COURSE_RECORD"
SCRATCH_ENV = "COURSE_SCRATCH_DIR"  # where the scratch folders go (default: chapters/<part>/_travail/)
NOTEBOOKS_ENV = "COURSE_NOTEBOOKS_DIR"  # where start() reads a notebook's cells (default: chapters/)
MISSING_RECORDING = "Aucun enregistrement pour cette cellule"
COURSE_IMAGES = course_images()
NAME_RE = re.compile(r"^/?cours-")
IMAGE_RE = re.compile(r"(^|/)cours[-/]")
MENTION_RE = re.compile(r"(?<![\w.-])cours[-/][A-Za-z0-9_./-]+")
MAX_LINES = 120
DEFAULT_TIMEOUT = 300


KINDS = {  # kind: (singular, plural), in French, for the lines a notebook prints
    "containers": ("conteneur", "conteneurs"),
    "networks": ("réseau", "réseaux"),
    "volumes": ("volume", "volumes"),
    "images": ("image", "images"),
}


def mentions_in(texts) -> set[str]:
    """The ``cours-…`` / ``cours/…`` names written in some texts (trailing separators dropped)."""
    return {m.rstrip(".-/_") for t in texts for m in MENTION_RE.findall(t)}


def notebook_file(notebook: str) -> Path:
    """The ``.ipynb`` file of a notebook id such as ``1-introduction/03-images-et-conteneurs``."""
    return Path(os.environ.get(NOTEBOOKS_ENV) or CHAPTERS) / f"{notebook}.ipynb"


def notebook_mentions(notebook: str) -> set[str]:
    """The names mentioned by every code cell of the notebook's file (none if it is unreadable)."""
    try:
        cells = json.loads(notebook_file(notebook).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return set()
    sources = (c.get("source", "") for c in cells if isinstance(c, dict) and c.get("cell_type") == "code")
    return mentions_in(s if isinstance(s, str) else "".join(s) for s in sources)


def removal_summary(counts: dict[str, int]) -> str:
    """« 2 conteneurs, 1 volume »: the non-zero counts, in French, in KINDS order."""
    return ", ".join(f"{counts[k]} {KINDS[k][counts[k] > 1]}" for k in KINDS if counts.get(k))


class CommandFailed(RuntimeError):
    """A command of a ``%%shell`` cell exited with an unexpected status (fails the cell)."""


def _docker_client():
    """A client whose daemon answers within a few seconds, or ``None`` (and why)."""
    if os.environ.get(NO_DOCKER_ENV):
        return None, f"{NO_DOCKER_ENV}={os.environ[NO_DOCKER_ENV]}"
    if any(k.startswith("BINDER_") for k in os.environ):
        return None, "Binder n'a pas de moteur Docker"
    try:
        import docker

        client = docker.from_env(timeout=60)  # a missing daemon fails at once; a loaded one is slow
        client.ping()
        return client, ""
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable daemon"
        return None, type(exc).__name__


def _split_commands(text: str) -> list[str]:
    """Logical commands of a cell: backslash continuations joined, blank lines dropped; a line
    that is only a comment is kept (it is printed, not run)."""
    commands, current = [], ""
    for line in text.splitlines():
        if current:
            current += "\n" + line
        elif line.strip():
            current = line
        else:
            continue
        if current.endswith("\\"):
            continue
        commands.append(current)
        current = ""
    if current:
        commands.append(current)
    return commands


def _is_builder_notice(line: str) -> bool:
    """The legacy builder's deprecation notice (the course's CLI has no buildx plugin): noise here."""
    return ("legacy builder is deprecated" in line or "Install the buildx component" in line
            or "docs.docker.com/go/buildx" in line or line.strip().startswith("BuildKit is currently disabled"))


def _shorten(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    head, tail = lines[:20], lines[-(MAX_LINES - 21):]
    return head + [f"… ({len(lines) - len(head) - len(tail)} lignes masquées) …"] + tail


class Course:
    """One notebook's session: its mode, its recordings, the objects it must clean up."""

    def __init__(self, notebook: str, client=None, reason: str = ""):
        self.notebook = notebook
        self.docker = client
        self.live = client is not None
        self.reason = reason
        self.recording = bool(os.environ.get(RECORD_ENV)) and self.live
        self.path = RECORDINGS / f"{notebook}.json"
        part, _, name = notebook.partition("/")
        scratch = os.environ.get(SCRATCH_ENV)
        self.workdir = Path(scratch) / part / name if scratch else CHAPTERS / part / "_travail" / name
        self._store: dict[str, Any] = {"notebook": notebook, "cells": {}, "values": {}}
        if self.recording:
            self._store["recorded_at"] = _dt.date.today().isoformat()
            self._store["docker"] = client.version().get("Version", "?")
        elif self.path.is_file():
            self._store = json.loads(self.path.read_text(encoding="utf-8"))
        self._commands: list[str] = []
        self._cleaned = False
        atexit.register(self._cleanup_at_exit)

    # -- banner -------------------------------------------------------------------------------
    def banner(self) -> None:
        if self.live:
            version = self.docker.version().get("Version", "?")
            tags = {t for i in self.docker.api.images() for t in (i.get("RepoTags") or ())}
            missing = [t for t in COURSE_IMAGES if t not in tags]
            print(f"Moteur Docker {version} joignable : les commandes de ce carnet s'exécutent pour de vrai.")
            if missing:
                print("Images du cours absentes : " + ", ".join(missing) + " — lancez `make images` d'abord.")
        else:
            when = self._store.get("recorded_at", "?")
            print(
                "Pas de moteur Docker joignable (" + (self.reason or "inconnu") + ") : mode démonstration.\n"
                f"Les cellules Docker affichent la sortie enregistrée le {when} sur une machine avec Docker ;\n"
                "le reste du carnet (texte, schémas, graphiques, quiz) fonctionne normalement."
            )

    # -- shell cells --------------------------------------------------------------------------
    def shell(self, text: str, expect_fail: bool = False, timeout: int = DEFAULT_TIMEOUT) -> None:
        """Run (live) or replay (demo) the commands of a ``%%shell`` cell."""
        key = text.strip()
        self._commands.append(text)
        if not self.live:
            self._replay(key)
            return
        transcript: list[str] = []
        failed = None
        started = time.monotonic()
        for command in _split_commands(text):
            if command.lstrip().startswith("# NBVAL"):
                continue  # nbval's markers are for the tests, not the reader
            print(f"$ {command}")
            transcript.append(f"$ {command}")
            if command.lstrip().startswith("#"):
                continue
            code, lines = self._run(command, timeout)
            transcript.extend(lines)
            if code != 0:
                note = f"(code de sortie {code}" + (", échec attendu)" if expect_fail else ")")
                print(note)
                transcript.append(note)
                failed = (command, code)
                break
        if self.recording:
            self._store["cells"][key] = {
                "output": "\n".join(transcript),
                "seconds": round(time.monotonic() - started, 1),
            }
            self._save()
        if failed and not expect_fail:
            raise CommandFailed(f"La commande `{failed[0]}` a échoué (code {failed[1]}).")
        if expect_fail and not failed:
            raise CommandFailed("Cette cellule devait échouer (--expect-fail) et tout a réussi.")

    def _run(self, command: str, timeout: int) -> tuple[int, list[str]]:
        env = dict(os.environ, DOCKER_CLI_HINTS="false", COMPOSE_ANSI="never", COMPOSE_PROGRESS="plain",
                   BUILDKIT_PROGRESS="plain", NO_COLOR="1", TERM="dumb", **compose_env())
        proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", command], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                errors="replace", env=env, start_new_session=True)
        lines: list[str] = []

        def kill() -> None:  # the whole process group: a silent, hung command is killed too
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        assert proc.stdout is not None
        try:
            after_notice = False
            for line in proc.stdout:
                line = line.rstrip("\n")
                if _is_builder_notice(line) or (after_notice and not line.strip()):
                    after_notice = True
                    continue
                after_notice = False
                lines.append(line)
                if len(lines) <= MAX_LINES:
                    print(line, flush=True)
            code = proc.wait()
        finally:
            timed_out = not timer.is_alive() and proc.returncode is not None and proc.returncode < 0
            timer.cancel()
        if timed_out:
            lines.append(f"(interrompu après {timeout} s)")
            print(lines[-1])
            code = 124
        if len(lines) > MAX_LINES:
            print(f"… {len(lines) - MAX_LINES} lignes de plus non affichées")
        return code, _shorten(lines)

    def _replay(self, key: str) -> None:
        cell = self._store.get("cells", {}).get(key)
        if cell is None:
            print(f"{MISSING_RECORDING} (Docker absent) : elle s'exécute sur une machine avec Docker.")
            print("\n".join(f"$ {c}" for c in _split_commands(key) if not c.lstrip().startswith("# NBVAL")))
            return
        print(f"[démo] sortie enregistrée ({cell.get('seconds', '?')} s avec Docker) :")
        print(cell["output"])

    # -- measured values ----------------------------------------------------------------------
    def measure(self, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` in live mode (recorded with COURSE_RECORD=1); the recorded value in demo mode."""
        if self.live:
            value = fn()
            if self.recording:
                self._store["values"][key] = value
                self._save()
            return value
        if key not in self._store.get("values", {}):
            print(f"{MISSING_RECORDING} : valeur « {key} » (Docker absent).")
            return None
        print(f"[démo] valeurs « {key} » mesurées le {self._store.get('recorded_at', '?')} avec Docker.")
        return self._store["values"][key]

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self._store, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                             encoding="utf-8")

    # -- cleanup ------------------------------------------------------------------------------
    def _objects(self) -> dict[str, dict[str, str]]:
        """``cours-…`` objects now: {kind: {id: name}} (one list call per kind, no inspects, so an
        object vanishing meanwhile cannot make it fail)."""
        api = self.docker.api
        containers = {x["Id"]: (x.get("Names") or ["?"])[0].lstrip("/") for x in api.containers(all=True)}
        networks = {x["Id"]: x["Name"] for x in api.networks()}
        volumes = {x["Name"]: x["Name"] for x in (api.volumes().get("Volumes") or [])}
        images = {t: t.rsplit(":", 1)[0] for i in api.images() for t in (i.get("RepoTags") or ())}
        return {
            "containers": {k: v for k, v in containers.items() if NAME_RE.match(v)},
            "networks": {k: v for k, v in networks.items() if NAME_RE.match(v)},
            "volumes": {k: v for k, v in volumes.items() if NAME_RE.match(v)},
            "images": {k: v for k, v in images.items() if IMAGE_RE.search(v)},
        }

    def _mentioned(self) -> set[str]:
        """The ``cours-…`` / ``cours/…`` names this notebook wrote: in the cells it ran (seen by a
        ``pre_run_cell`` hook and IPython's input history, %%writefile cells included), its shell
        commands and its scratch files.
        Only objects named after one of them are this notebook's (others may run concurrently)."""
        texts = list(self._commands)
        try:
            from IPython import get_ipython

            ip = get_ipython()
            if ip is not None:
                texts += [str(t) for t in ip.user_ns.get("In", [])]
        except ImportError:  # pragma: no cover
            pass
        return mentions_in(texts) | self._scratch_mentions()

    def _scratch_mentions(self) -> set[str]:
        texts = []
        if self.workdir.is_dir():
            for path in self.workdir.rglob("*"):
                if path.is_file() and path.stat().st_size < 1_000_000:
                    texts.append(path.read_text(encoding="utf-8", errors="replace"))
        return mentions_in(texts)

    @staticmethod
    def _owned(name: str, mentions: set[str]) -> bool:
        """``name`` is a mentioned name, or derived from one by Compose (``<project>-<service>-1``,
        ``<project>_<volume>``) or prefixed by a registry host (``127.0.0.1:5000/cours-x/app``)."""
        return any(name == m or name.startswith((m + "-", m + "_")) or name.endswith("/" + m)
                   or ("/" + m + "-") in name or ("/" + m + "_") in name for m in mentions)

    def _cleanup_at_exit(self) -> None:
        if self.live and not self._cleaned:
            try:
                self.cleanup(quiet=True)
            except Exception:  # noqa: BLE001 - the daemon may be gone at exit; the tests sweep
                pass

    def _remove_owned(self, mentions: set[str]) -> dict[str, int]:
        """Remove the ``cours…`` objects named after one of ``mentions``: containers first (with
        their anonymous volumes), then networks, volumes, images. Returns how many went, by kind.
        Each call has the client's timeout; an object vanishing meanwhile is skipped."""
        import docker

        now = self._objects()
        owned = {kind: {k: v for k, v in now[kind].items() if self._owned(v, mentions)} for kind in now}
        api = self.docker.api
        removals = (("containers", lambda k: api.remove_container(k, v=True, force=True)),
                    ("networks", api.remove_network),
                    ("volumes", lambda k: api.remove_volume(k, force=True)),
                    ("images", lambda k: api.remove_image(k, force=True)))
        counts = {kind: 0 for kind, _ in removals}
        for kind, remove in removals:
            for key in sorted(owned[kind]):
                try:
                    remove(key)
                    counts[kind] += 1
                except docker.errors.DockerException:
                    pass
        return counts

    def sweep(self) -> dict[str, int]:
        """Remove what an earlier, interrupted run of this notebook left (live mode only; call it
        before the scratch folder is emptied): objects named after a name in the notebook's code
        cells or in its previous scratch files. Prints one French line when it removed something."""
        if not self.live:
            return {}
        try:
            counts = self._remove_owned(notebook_mentions(self.notebook) | self._scratch_mentions())
        except Exception as exc:  # noqa: BLE001 - a slow or vanished daemon: say so, never a traceback
            print(f"Restes d'une exécution précédente non vérifiés ({type(exc).__name__}) : relancez "
                  "cette cellule si une commande échoue ensuite sur un nom déjà utilisé.")
            return {}
        if any(counts.values()):
            print(f"Restes d'une exécution interrompue supprimés : {removal_summary(counts)}.")
        return counts

    def cleanup(self, quiet: bool = False) -> None:
        """Remove the ``cours-…`` containers, networks, volumes and images this notebook created:
        those named after a name the notebook wrote (also when a killed earlier run left them)."""
        if not self.live:
            if not quiet:
                print("Mode démonstration : rien à nettoyer.")
            return
        counts = self._remove_owned(self._mentioned())
        if not quiet:
            print(f"Nettoyage : suppression de {removal_summary(counts)}."
                  if any(counts.values()) else "Nettoyage : rien à supprimer.")
        self._cleaned = True


def bars(values: dict[str, float], title: str, unit: str, ax=None, color: str = "#2a7ab0"):
    """A labelled horizontal bar chart of measured values (image sizes, build times)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.6 * len(values) + 1.2))
    names = list(values)
    bars_ = ax.barh(names, [values[n] for n in names], color=color)
    ax.bar_label(bars_, labels=[f"{values[n]:.3g} {unit}" for n in names], padding=3)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title)
    ax.margins(x=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def _register_magic(course: Course) -> None:
    try:
        from IPython import get_ipython
        from IPython.core.magic import register_cell_magic
    except ImportError:  # pragma: no cover - outside IPython the magic is not needed
        return
    ip = get_ipython()
    if ip is None:
        return
    # Every cell run from now on counts for cleanup(): nbval, unlike JupyterLab and nbconvert, runs
    # cells without storing them in IPython's `In` history.
    ip.events.register("pre_run_cell", lambda info: course._commands.append(info.raw_cell or ""))

    @register_cell_magic("shell")
    def shell(line: str, cell: str) -> None:  # noqa: ANN001 - IPython's signature
        """%%shell [--expect-fail] [--timeout N]: run the cell's commands (or replay them)."""
        args = shlex.split(line)
        timeout = DEFAULT_TIMEOUT
        if "--timeout" in args:
            timeout = int(args[args.index("--timeout") + 1])
        course.shell(cell, expect_fail="--expect-fail" in args, timeout=timeout)


def start(notebook: str) -> Course:
    """Detect the mode, print it, remove what an interrupted earlier run of this notebook left,
    empty its scratch folder and register ``%%shell`` for this notebook."""
    client, reason = _docker_client()
    course = Course(notebook, client, reason)
    course.banner()
    course.sweep()  # reads the previous scratch files: before they are removed
    if course.workdir.exists():
        shutil.rmtree(course.workdir)
    course.workdir.mkdir(parents=True)
    os.chdir(course.workdir)
    _register_magic(course)
    return course


def recording_keys(notebook: str) -> set[str]:
    """The cells recorded for a notebook (used by the tests)."""
    path = RECORDINGS / f"{notebook}.json"
    if not path.is_file():
        return set()
    return set(json.loads(path.read_text(encoding="utf-8")).get("cells", {}))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("Import this module from a chapter notebook: from autograder.notebook import start")
