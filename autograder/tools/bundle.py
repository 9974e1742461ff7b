"""Offline classroom bundle: every course image in one archive, and back.

``make images-export`` (``python -m autograder.tools.bundle export``) writes the images of
``docker/images.txt`` (plus, with ``--with-course``, the course container's image named in
``docker/course/compose.yaml``) to one gzip-compressed ``docker save`` archive,
``build/images/cours-conteneurisation-images-<arch>.tar.gz`` by default, and beside it a manifest,
``<same name>.manifest.json``: tags, content ids, architecture, stored sizes, and the archive's size
and SHA-256.

``make images-import [BUNDLE=path]`` (``python -m autograder.tools.bundle import``) checks the archive
against its manifest (size, then SHA-256) *before* loading anything, checks the architecture
against the engine's, feeds it to ``docker load`` and verifies that every tag is back with the
manifest's content id. ``make images`` then finds every tag present and pulls nothing.

Identity and size do not depend on the image store (:mod:`autograder.engine.imagefacts`): the engine's
``Id`` is the config digest under overlay2 but the manifest digest under the containerd store,
and inspect's ``Size`` the unpacked size under one and the packed size under the other. So the
manifest (format 2) records each image's ``content_id`` (platform, uncompressed layer digests,
run-time config) and ``stored_size`` (its layers' uncompressed contents, measured on the export's
own ``docker save`` stream, in a thread beside the compression, at no extra read of the engine),
and a bundle exported under one store imports as identical under the other. A format 1 manifest
(engine ids) is still read and compared by id, which only holds on the same kind of store.

Why gzip: ``docker load`` reads gzip natively (also by hand: ``docker load -i FILE``), Docker 20.10
does not read zstd. ``make images-import`` gunzips the archive itself on its way to ``docker
load``, because Podman's API (4.x) loads only plain tar archives. Measured on 2 cores with the four stand-ins (528 MB of ``docker save``
output): gzip -6 gives 182 MB in ~20 s, gzip -1 201 MB in ~9 s, zstd -3 169 MB; loading into an
empty engine takes 7-9 s for the plain tar and the gzip archives alike (the engine's layer
extraction, not decompression, is the limit), so the archive is compressed once at level 6 for
a smaller copy to thirty laptops.

Student-facing messages are in French; every Docker call has a time limit.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Callable, Iterable, Optional

from autograder.core import GraderUnavailable
from autograder.engine.imagefacts import ChunkReader, ImageFactsError, SavedArchive, content_id_of, image_store, read_save
from autograder.readers.images import STANDIN_LABEL, course_images
from autograder.engine.docker_api import DockerStepError
from autograder.engine.docker_cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / "build" / "images"
COURSE_COMPOSE = ROOT / "docker" / "course" / "compose.yaml"
BASENAME = "cours-conteneurisation-images"
MANIFEST_SUFFIX = ".manifest.json"
FORMAT = 2  # 2: content ids and stored sizes; 1: engine ids and inspect's Size (still read)
FORMATS = (1, 2)
GZIP_LEVEL = 6
CHUNK = 1 << 20
INSPECT_TIMEOUT = 60
# One `docker save` / `docker load` of the whole bundle; ~10-25 s for the four images on 2 cores.
DEFAULT_TIMEOUT = int(os.environ.get("BUNDLE_TIMEOUT", "1800"))


class BundleError(Exception):
    """A problem to tell the user in French (no traceback); ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def mb(n: float) -> str:
    return f"{n / 1e6:.0f} Mo"


def say(msg: str = "") -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------------
# Docker (the CLI, as docker/images.sh does: same DOCKER_HOST / context), each call time-limited
# ------------------------------------------------------------------------------------------------
def _docker(*args: str, timeout: float = INSPECT_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return run_cli(["docker", *args], timeout=timeout)
    except GraderUnavailable:
        raise BundleError("La commande `docker` est introuvable : installez Docker (voir `make doctor`).",
                          2) from None
    except DockerStepError:
        raise BundleError(f"`docker {args[0]}` n'a pas répondu en {timeout:.0f} s : le moteur Docker "
                          "est-il bloqué ? (voir `make doctor`)", 2) from None


def engine_arch() -> str:
    proc = _docker("version", "--format", "{{.Server.Arch}}")
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BundleError("Aucun moteur Docker ne répond (le service est-il démarré ? cet utilisateur "
                          "a-t-il accès à Docker ?). Voir `make doctor`.", 2)
    return proc.stdout.strip()


def engine_store() -> str:
    """The engine's image store ("overlay2", "containerd", …), for the manifest and messages."""
    proc = _docker("info", "--format", "{{json .}}")
    try:
        return image_store(json.loads(proc.stdout)) if proc.returncode == 0 else "?"
    except ValueError:
        return "?"


def inspect(tags: Iterable[str]) -> dict[str, Optional[dict]]:
    """``tag -> docker image inspect`` record, ``None`` for a tag that is not present."""
    out: dict[str, Optional[dict]] = {}
    for tag in tags:
        proc = _docker("image", "inspect", tag)
        out[tag] = json.loads(proc.stdout)[0] if proc.returncode == 0 else None
    return out


def course_container_images(compose: Path = COURSE_COMPOSE) -> list[str]:
    """The image(s) ``docker/course/compose.yaml`` names (the course container, built locally)."""
    import yaml

    try:
        services = (yaml.safe_load(compose.read_text(encoding="utf-8")) or {}).get("services") or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BundleError(f"Impossible de lire {compose.relative_to(ROOT)} : {exc}") from None
    return [s["image"] for s in services.values() if isinstance(s, dict) and s.get("image")]


# ------------------------------------------------------------------------------------------------
# Progress: a live bar on a terminal, a plain line every few seconds in logs
# ------------------------------------------------------------------------------------------------
class ByteProgress:
    def __init__(self, label: str, total: Optional[int] = None, every: float = 5.0):
        self.label, self.total, self.every = label, total, every
        self.done = 0
        self.started = self._last = time.monotonic()
        self._bar = None
        if sys.stdout.isatty():
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TransferSpeedColumn)

            self._bar = Progress(TextColumn("  {task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeElapsedColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.log_line(f"  … {self.label} : {self.status()}")

    def log_line(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            say(line)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def status(self) -> str:
        part = mb(self.done)
        if self.total:
            part += f" / {mb(self.total)} ({100 * self.done / self.total:.0f} %)"
        return f"{part}, {self.done / 1e6 / max(self.elapsed(), 1e-3):.0f} Mo/s"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class _HashingWriter:
    """A binary file wrapper that hashes and counts what goes through it."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def sha256_file(path: Path, progress: Optional[ByteProgress] = None) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            if progress:
                progress.advance(len(chunk))
    return sha.hexdigest()


class _Deadline:
    """Kill ``proc`` when it runs past ``timeout`` seconds (a blocked pipe cannot check a clock)."""

    def __init__(self, proc: subprocess.Popen, timeout: float):
        self.proc, self.fired = proc, False
        self._timer = threading.Timer(timeout, self._kill)
        self._timer.daemon = True
        self._timer.start()

    def _kill(self) -> None:
        self.fired = True
        self.proc.kill()

    def cancel(self) -> None:
        self._timer.cancel()

    def why(self, err: IO[bytes], timeout: float) -> str:
        return f"délai de {timeout:.0f} s dépassé (BUNDLE_TIMEOUT)" if self.fired else _tail(err)


def _tail(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", "replace").strip()[-600:]


# ------------------------------------------------------------------------------------------------
# Paths and manifest
# ------------------------------------------------------------------------------------------------
def default_archive(arch: str) -> Path:
    return DEFAULT_DIR / f"{BASENAME}-{arch}.tar.gz"


def manifest_path(archive: Path) -> Path:
    name = archive.name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return archive.with_name(name + MANIFEST_SUFFIX)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_manifest(path: Path) -> dict:
    """The manifest (format 1 or 2); :class:`BundleError` in French for anything else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data["format"]
    except (OSError, ValueError, KeyError, TypeError):
        version, data = None, None
    if isinstance(version, int) and version > FORMAT:
        raise BundleError(f"Manifeste au format {version}, plus récent que ce dépôt (format {FORMAT}) : "
                          f"{_display(path)}. Mettez le dépôt à jour (`git pull`), puis relancez.")
    key = "id" if version == 1 else "content_id"
    try:
        assert version in FORMATS
        assert isinstance(data["archive"]["sha256"], str) and isinstance(data["archive"]["size"], int)
        assert all(isinstance(i["tag"], str) and isinstance(i[key], str) for i in data["images"])
        return data
    except (KeyError, TypeError, AssertionError):
        raise BundleError(f"Manifeste illisible ou d'un autre format : {_display(path)}. Copiez-le à nouveau "
                          "avec l'archive, ou refaites l'export (`make images-export`).") from None


def same_image(entry: dict, now: Optional[dict], version: int) -> bool:
    """Is the engine's image (``docker image inspect`` record) the manifest's ``entry``?
    Format 2 compares content ids (any store); format 1 the engine's ``Id`` (same store only)."""
    if now is None:
        return False
    if version == 1:
        return now.get("Id") == entry["id"]
    return content_id_of(now) == entry["content_id"]


def image_line(entry: dict) -> tuple[str, str]:
    """(short id, size) of a manifest entry for the tables: the content id and stored size, or a
    format 1 manifest's engine id and inspect size."""
    ident = entry.get("content_id") or entry.get("id") or "?"
    size = entry.get("stored_size", entry.get("size"))
    return ident.split(":")[-1][:12], mb(size) if isinstance(size, int) else "?"


class SaveSizer:
    """Measures every image of a ``docker save`` stream in a thread while the caller writes the
    same chunks elsewhere (:func:`autograder.engine.imagefacts.read_save`, bounded memory)."""

    def __init__(self):
        self._queue: "queue.Queue[Optional[bytes]]" = queue.Queue(maxsize=16)
        self._ended = False
        self.saved: Optional[SavedArchive] = None
        self.error: Optional[ImageFactsError] = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _chunks(self):
        while (chunk := self._queue.get()) is not None:
            yield chunk
        self._ended = True

    def _run(self) -> None:
        try:
            self.saved = read_save(io.BufferedReader(ChunkReader(self._chunks()), CHUNK), "`docker save`")
        except ImageFactsError as exc:
            self.error = exc
        finally:  # tar padding after the end marker, or a failed read: take the rest, unblock feed()
            while not self._ended and self._queue.get() is not None:
                pass

    def feed(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def close(self, timeout: float = 60) -> Optional[SavedArchive]:
        """The measured archive (None: read failed, see ``error``) once the stream has ended."""
        self._queue.put(None)
        self._thread.join(timeout)
        return self.saved

    def size_of(self, tag: str) -> Optional[int]:
        if self.saved is None:
            return None
        entry = self.saved.entry_for(tag)
        if entry is None and len(self.saved.manifest) == 1:
            entry = self.saved.manifest[0]
        return self.saved.size(entry) if entry is not None else None


# ------------------------------------------------------------------------------------------------
# Export
# ------------------------------------------------------------------------------------------------
def export(tags: list[str], archive: Optional[Path], *, level: int = GZIP_LEVEL,
           timeout: float = DEFAULT_TIMEOUT) -> dict:
    arch = engine_arch()
    archive = archive or default_archive(arch)
    infos = inspect(tags)
    missing = [t for t, i in infos.items() if i is None]
    if missing:
        pl = "s" if len(missing) > 1 else ""
        raise BundleError(f"Image{pl} absente{pl} de ce moteur Docker : " + ", ".join(missing) + ".\n"
                          "Créez-les d'abord (`make images` pour celles du cours, `make course-image` "
                          "pour le conteneur du cours), puis relancez l'export.")
    archive.parent.mkdir(parents=True, exist_ok=True)
    part = archive.with_name(archive.name + ".part")
    say(f"Export de {len(tags)} image{'s' if len(tags) > 1 else ''} vers {_display(archive)} (docker save | gzip -{level})")
    store = engine_store()

    progress = ByteProgress("docker save")
    sizer = SaveSizer()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(["docker", "save", *tags], stdout=subprocess.PIPE, stderr=err)
        timer = _Deadline(proc, timeout)
        try:
            with part.open("wb") as raw:
                hashing = _HashingWriter(raw)
                with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, compresslevel=level, mtime=0) as gz:
                    while chunk := proc.stdout.read(CHUNK):
                        gz.write(chunk)
                        sizer.feed(chunk)
                        progress.advance(len(chunk))
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            part.unlink(missing_ok=True)
            raise
        finally:
            sizer.close()
            timer.cancel()
            progress.close()
        if rc != 0:
            part.unlink(missing_ok=True)
            raise BundleError(f"`docker save` a échoué ({timer.why(err, timeout)}) : aucune archive écrite.")
        if sizer.saved is None:
            part.unlink(missing_ok=True)
            raise BundleError(f"La sortie de `docker save` est illisible ({sizer.error}) : aucune archive écrite. "
                              "Relancez l'export ; si cela se reproduit, voir `make doctor`.")
    os.replace(part, archive)
    seconds = progress.elapsed()

    manifest = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": arch,
        "image_store": store,
        "archive": {"file": archive.name, "compression": f"gzip -{level}", "size": hashing.size,
                    "sha256": hashing.sha.hexdigest(), "uncompressed_size": progress.done},
        # content_id and stored_size mean the same under every image store; engine_id is this
        # engine's own Id (config digest under overlay2, manifest digest under containerd), for
        # information only: it is never compared.
        "images": [{"tag": tag, "content_id": content_id_of(info), "stored_size": sizer.size_of(tag),
                    "engine_id": info["Id"], "architecture": info["Architecture"],
                    "os": info["Os"], "created": info["Created"],
                    "offline_standin": ((info.get("Config") or {}).get("Labels") or {}).get(STANDIN_LABEL) == "true"}
                   for tag, info in infos.items()],
    }
    for k, i in enumerate(manifest["images"], 1):
        short, size = image_line(i)
        say(f"  [{k}/{len(tags)}] {i['tag']:<42} {short}  {size:>7}  {i['architecture']}")
    mpath = manifest_path(archive)
    tmp = mpath.with_name(mpath.name + ".part")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, mpath)
    say(f"[OK] {_display(archive)} : {mb(hashing.size)} ({mb(progress.done)} avant compression) en {seconds:.1f} s")
    say(f"     manifeste : {_display(mpath)} (SHA-256 {hashing.sha.hexdigest()[:16]}…)")
    say("     Copiez les deux fichiers sur chaque poste, puis : make images-import BUNDLE=chemin/vers/"
        + archive.name)
    return manifest


# ------------------------------------------------------------------------------------------------
# Import
# ------------------------------------------------------------------------------------------------
def verify(archive: Path) -> dict:
    """The manifest of ``archive``, once its size and SHA-256 match; :class:`BundleError` otherwise."""
    if not archive.is_file():
        raise BundleError(f"Archive introuvable : {_display(archive)}.\nCopiez sur ce poste l'archive produite "
                          "par `make images-export` (et son manifeste .manifest.json), puis : "
                          "make images-import BUNDLE=chemin/vers/archive.tar.gz")
    mpath = manifest_path(archive)
    if not mpath.is_file():
        raise BundleError(f"Manifeste introuvable : {_display(mpath)}.\nIl accompagne l'archive (même nom, "
                          f"{MANIFEST_SUFFIX}) et permet de vérifier qu'elle est intacte : copiez les deux "
                          "fichiers dans le même dossier.")
    manifest = read_manifest(mpath)
    expected, size = manifest["archive"]["size"], archive.stat().st_size
    if size != expected:
        raise BundleError(f"Archive incomplète ou tronquée : {_display(archive)} fait {size} octets au lieu de "
                          f"{expected}.\nLa copie a sans doute été interrompue : copiez-la à nouveau. "
                          "Rien n'a été chargé.")
    progress = ByteProgress("vérification SHA-256", total=size)
    try:
        digest = sha256_file(archive, progress)
    finally:
        progress.close()
    if digest != manifest["archive"]["sha256"]:
        raise BundleError(f"Archive corrompue : {_display(archive)} n'a pas l'empreinte SHA-256 du manifeste "
                          f"(attendue {manifest['archive']['sha256'][:16]}…, obtenue {digest[:16]}…).\n"
                          "Copiez-la à nouveau depuis l'original (clé USB défectueuse ?). "
                          "Rien n'a été chargé.")
    say(f"[OK] archive intacte ({mb(size)}, SHA-256 vérifiée en {progress.elapsed():.1f} s)")
    return manifest


def _tar_stream(raw: IO[bytes]) -> IO[bytes]:
    """The plain ``docker save`` tar of an archive file: gunzipped when it is gzip, else as is."""
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    return gzip.GzipFile(fileobj=raw, mode="rb") if head == b"\x1f\x8b" else raw


def load(archive: Path, *, force: bool = False, timeout: float = DEFAULT_TIMEOUT,
         required: Callable[[], Iterable[str]] = course_images) -> dict:
    manifest = verify(archive)
    arch = engine_arch()
    if manifest["architecture"] != arch and not force:
        raise BundleError(f"Cette archive contient des images {manifest['architecture']}, mais ce moteur Docker "
                          f"est {arch} : elles ne fonctionneraient pas (ou très lentement, en émulation).\n"
                          f"Faites un export sur une machine {arch}. (Pour charger quand même : FORCE=1.)")
    images, version = manifest["images"], manifest["format"]
    before = inspect(i["tag"] for i in images)
    say(f"Chargement de {len(images)} image{'s' if len(images) > 1 else ''} depuis {_display(archive)} (docker load)")
    for i in images:
        old = before[i["tag"]]
        if old is not None and not same_image(i, old, version):
            say(f"  note : {i['tag']} existe déjà, différente ; elle sera remplacée par celle de l'archive")

    progress = ByteProgress("docker load", total=archive.stat().st_size)
    loaded: list[str] = []

    def read_output(stream: IO[bytes]) -> None:
        for line in stream:
            text = line.decode("utf-8", "replace").strip()
            if text.startswith("Loaded image"):
                loaded.append(text)
                progress.log_line(f"  [{len(loaded)}/{len(images)}] {text} ({progress.elapsed():.1f} s)")

    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(["docker", "load"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        reader = threading.Thread(target=read_output, args=(proc.stdout,), daemon=True)
        reader.start()
        timer = _Deadline(proc, timeout)
        try:
            # Decompressed here, not by the engine: Podman's API (4.x) loads no gzip archive.
            with archive.open("rb") as raw, _tar_stream(raw) as f:
                read = 0
                while chunk := f.read(CHUNK):
                    proc.stdin.write(chunk)
                    progress.advance(raw.tell() - read)
                    read = raw.tell()
            proc.stdin.close()
            rc = proc.wait()
            reader.join(timeout=30)
        except BrokenPipeError:
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
            progress.close()
        if rc != 0:
            raise BundleError(f"`docker load` a échoué ({timer.why(err, timeout)}).")
    seconds = progress.elapsed()

    after = inspect(i["tag"] for i in images)
    wrong = []
    say(f"\n{'IMAGE':<42} {'CONTENU' if version > 1 else 'ID':<12}  {'TAILLE':>7}")
    for i in images:
        ok = same_image(i, after[i["tag"]], version)
        short, size = image_line(i)
        say(f"{i['tag']:<42} {short:<12}  {size:>7}  {'OK' if ok else 'ABSENTE OU DIFFÉRENTE'}")
        if not ok:
            wrong.append(i["tag"])
    if wrong:
        pl = "s" if len(wrong) > 1 else ""
        hint = ("\nCe manifeste est au format 1 (identifiants du moteur, qui changent entre les stockages "
                "d'images overlay2 et containerd) : refaites l'export avec le dépôt à jour." if version == 1 else "")
        raise BundleError(f"Après `docker load`, image{pl} absente{pl} ou différente{pl} du manifeste : "
                          + ", ".join(wrong) + hint)
    pl = "s" if len(images) > 1 else ""
    say(f"[OK] {len(images)} image{pl} chargée{pl} en {seconds:.1f} s")
    absent = [t for t, info in inspect(required()).items() if info is None]
    if absent:
        raise BundleError("Il manque encore des images du cours (docker/images.txt) que l'archive ne contient "
                          "pas : " + ", ".join(absent) + ".\nRefaites l'export avec le dépôt à jour.")
    say("Toutes les images du cours sont présentes : `make images` ne téléchargera rien.")
    return manifest


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder.tools.bundle",
                                description="Archive hors ligne des images du cours (salle sans Internet).")
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="écrire les images du cours dans une archive (+ manifeste)")
    ex.add_argument("-o", "--output", type=Path, metavar="ARCHIVE",
                    help=f"chemin de l'archive (défaut : build/images/{BASENAME}-<arch>.tar.gz)")
    ex.add_argument("--with-course", action="store_true",
                    help="ajouter l'image du conteneur du cours (docker/course/compose.yaml)")
    ex.add_argument("--image", action="append", metavar="TAG",
                    help="exporter ces images au lieu de celles de docker/images.txt (répétable)")
    ex.add_argument("--level", type=int, default=GZIP_LEVEL, choices=range(1, 10), metavar="1-9",
                    help=f"niveau de compression gzip (défaut {GZIP_LEVEL})")
    im = sub.add_parser("import", help="charger une archive (vérifiée d'abord) dans Docker")
    im.add_argument("archive", type=Path, nargs="?",
                    help=f"l'archive (défaut : build/images/{BASENAME}-<arch>.tar.gz)")
    im.add_argument("--force", action="store_true", help="charger même si l'architecture diffère")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "export":
            tags = list(args.image or course_images())
            if args.with_course:
                tags += [t for t in course_container_images() if t not in tags]
            export(tags, args.output, level=args.level)
        else:
            load(args.archive or default_archive(engine_arch()), force=args.force)
    except BundleError as exc:
        print(f"[ERREUR] {exc}", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        print("[ERREUR] interrompu", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
