"""Image and engine facts that mean the same thing on every engine and image store.

Why not ``docker image inspect``'s ``Size`` and ``Id``:

* under Docker's classic stores (overlay2 & co., Engine <= 28 default), ``Size`` is the sum of the
  image's unpacked layer diffs, and ``Id`` is the digest of the image's config;
* under the containerd image store (default of fresh Engine 29 installs and of Docker Desktop),
  ``Size`` is the *packed* content size (the gzip-compressed layers after a pull: lab 05's
  reference measures 30 MB instead of 79 MB), upstream changes what it counts between versions
  (moby/moby#53426 adds the unpacked snapshots), and ``Id`` is the digest of the manifest, which
  changes when the same layers are re-packed.

So nothing in the grader reads ``Size`` or compares ``Id`` across engines. Instead:

* :func:`stored_size`: the uncompressed bytes of the image's layers, read from ``docker save``;
* :func:`content_id`: a digest of what makes the image run the same (platform, uncompressed layer
  digests, run-time config), identical for the same image under both stores;
* :func:`engine_facts`: which engine, API, image store, builder, cgroup, OS and architecture this is.

Every Docker call here has a time limit; errors the user may see are :class:`ImageFactsError`
with a French message.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tarfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
TAR_MAGIC_OFFSET = 257  # "ustar" (POSIX, pax, GNU) sits at byte 257 of a tar header
SAVE_CHUNK = 1 << 20
_now = time.monotonic  # the clock of every deadline here (tests replace it)
# The run-time config fields that define how a container of the image behaves.
CONFIG_FIELDS = ("Cmd", "Entrypoint", "Env", "User", "WorkingDir", "ExposedPorts", "Volumes", "Labels",
                 "Healthcheck")
CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"


class ImageFactsError(RuntimeError):
    """A fact that could not be read; the message is French, for the user."""


# -- stored size -------------------------------------------------------------------------------
class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks, with a deadline (bounded memory)."""

    def __init__(self, chunks: Iterable[bytes], deadline: Optional[float] = None, what: str = "l'image"):
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._deadline = deadline
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            if self._deadline is not None and _now() > self._deadline:
                raise ImageFactsError(f"lecture de {self._what} trop longue : délai dépassé")
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()
        super().close()


def _prefixed(head: bytes, rest) -> io.BufferedReader:
    """A stream that yields ``head`` then the rest of ``rest`` (we peeked at ``head`` already)."""

    def chunks() -> Iterator[bytes]:
        yield head
        while True:
            data = rest.read(SAVE_CHUNK)
            if not data:
                return
            yield data

    return io.BufferedReader(ChunkReader(chunks()), SAVE_CHUNK)


def _zstd_reader(raw) -> Optional[Any]:
    """A streaming zstd decompressor over ``raw``: Python 3.14's ``compression.zstd``, or the
    ``zstandard`` package; None when neither is installed."""
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14

        return zstd.ZstdFile(raw)
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return None
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)


def layer_kind(head: bytes) -> Optional[str]:
    """``gzip``, ``zstd`` or ``tar`` for a layer blob's first bytes (>= 512 of them, or the whole
    blob when shorter); None for anything else (JSON config, manifest, index)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head[TAR_MAGIC_OFFSET:TAR_MAGIC_OFFSET + 5] == b"ustar":
        return "tar"
    if len(head) >= 512 and not head.strip(b"\0"):  # an empty layer: only end-of-archive blocks
        return "tar"
    return None


def layer_files_size(stream) -> int:
    """Bytes of a layer tar stream's content, as the overlay2 store counts a layer's diff
    (moby's ``directory.Size``): regular files, plus each symlink's target length; directories,
    hard links (the same inode, counted once) and whiteouts (empty files or 0/0 devices) add 0."""
    total = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if member.isreg():
                total += member.size
            elif member.issym():
                total += len(member.linkname.encode("utf-8", "surrogateescape"))
    return total


def _clean(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def _read_head(f, n: int = 512) -> bytes:
    head = b""
    while len(head) < n:
        data = f.read(n - len(head))
        if not data:
            break
        head += data
    return head


def _blob_size(f) -> tuple[Optional[str], Optional[int], bytes]:
    """(kind, uncompressed content size or None for an unreadable zstd layer, the head bytes)."""
    head = _read_head(f)
    kind = layer_kind(head)
    if kind is None:
        return None, None, head
    raw = _prefixed(head, f)
    if kind == "gzip":
        return kind, layer_files_size(gzip.GzipFile(fileobj=raw, mode="rb")), head
    if kind == "zstd":
        reader = _zstd_reader(raw)
        return kind, (layer_files_size(reader) if reader is not None else None), head
    return kind, layer_files_size(raw), head


def _history_layer_sizes(client, ref: str, config: Optional[dict]) -> list[int]:
    """Per-layer sizes from ``docker history``, oldest layer first, matched to the layers through
    the config's ``empty_layer`` flags (entries without a layer carry no size)."""
    entries = list(reversed(client.api.history(ref)))  # the API lists the newest step first
    flags = [bool(h.get("empty_layer")) for h in (config or {}).get("history") or []]
    if len(flags) != len(entries):  # no usable config: every entry with a size holds a layer
        return [int(e.get("Size") or 0) for e in entries if int(e.get("Size") or 0) > 0]
    return [int(e.get("Size") or 0) for e, empty in zip(entries, flags) if not empty]


def _save_response(client, ref: str, timeout: float):
    """The streamed response of ``GET /images/{ref}/get`` (``docker save``).

    Not ``client.api.get_image``: docker-py (7.1, pinned) turns the socket's read timeout off for
    raw streams, so a stalled engine would block forever. Each read here waits at most
    ``timeout`` seconds, and :class:`ChunkReader` stops the whole transfer at the deadline.
    """
    api = client.api
    response = api._get(api._url("/images/{0}/get", ref), stream=True, timeout=timeout)
    api._raise_for_status(response)
    return response


@dataclass
class SavedArchive:
    """What :func:`read_save` found in a ``docker save`` stream (one image or several)."""

    manifest: list  # manifest.json: one entry per image, with Config, RepoTags and Layers
    sizes: dict  # archive path of each layer -> content size (None: a zstd layer nobody can read)
    aliases: dict  # symlinked layer path -> the path it points to (Docker 20.10's repeated layers)
    configs: dict  # archive path -> image config (the JSON with "rootfs")

    def layers(self, entry: dict) -> list[str]:
        """The archive paths of ``entry``'s layers, in order, repeated ones included."""
        return [self.aliases.get(_clean(p), _clean(p)) for p in entry.get("Layers") or []]

    def config(self, entry: dict) -> Optional[dict]:
        return self.configs.get(_clean(entry.get("Config", "")))

    def entry_for(self, tag: str) -> Optional[dict]:
        """The manifest entry whose RepoTags hold ``tag`` (``docker.io/library/`` or not)."""
        want = _familiar(tag)
        return next((e for e in self.manifest if want in {_familiar(t) for t in e.get("RepoTags") or []}), None)

    def size(self, entry: dict) -> Optional[int]:
        """The entry's stored size: its layers' contents, each distinct layer once; None when a
        layer is zstd and no decompressor is installed."""
        unique = list(dict.fromkeys(self.layers(entry)))
        if any(self.sizes[p] is None for p in unique):
            return None
        return sum(self.sizes[p] for p in unique)


def _familiar(tag: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return tag


def read_save(stream, what: str = "l'archive") -> SavedArchive:
    """Read a ``docker save`` tar stream once, in :mod:`tarfile`'s stream mode (bounded memory),
    and measure every layer in it (see :func:`stored_size` for what counts).

    Raises :class:`ImageFactsError` when the stream is not a complete ``docker save`` archive:
    tarfile ends a stream quietly at a broken header, so a truncated export must not pass for a
    smaller image: the manifest (written last) and every layer it names must have been read.
    """
    sizes: dict[str, Optional[int]] = {}
    aliases: dict[str, str] = {}
    manifest: Any = None
    configs: dict[str, dict] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as outer:
            for member in outer:
                name = _clean(member.name)
                if member.issym():  # Docker 20.10 links a layer saved twice to its first copy
                    aliases[name] = _clean(posixpath.normpath(
                        posixpath.join(posixpath.dirname(name), member.linkname)))
                if not member.isreg():
                    continue
                f = outer.extractfile(member)
                if name == "manifest.json":
                    manifest = json.loads(f.read())
                    continue
                # Any file may be a layer: <id>/layer.tar (Docker <= 24), blobs/sha256/<digest>
                # (OCI, Docker 25+ and containerd), <digest>.tar (Podman's docker-archive).
                kind, size, head = _blob_size(f)
                if kind is not None:
                    sizes[name] = size
                elif head[:1] == b"{" and member.size < (8 << 20):
                    try:
                        doc = json.loads(head + f.read())
                    except ValueError:
                        continue
                    if isinstance(doc, dict) and "rootfs" in doc:
                        configs[name] = doc
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise ImageFactsError(f"export de {what} illisible ({type(exc).__name__} : {exc})") from None
    if not manifest or not isinstance(manifest, list) or not all(isinstance(e, dict) for e in manifest):
        raise ImageFactsError(f"export de {what} illisible (manifest.json absent : archive tronquée ?)")
    saved = SavedArchive(manifest, sizes, aliases, configs)
    absent = [p for e in manifest for p in saved.layers(e) if p not in sizes]
    if absent:
        raise ImageFactsError(f"export de {what} illisible (couche {absent[0]} absente de l'archive)")
    return saved


def stored_size(client, ref: str, timeout: float = 120, *,
                history: Optional[Callable[[Optional[dict]], list[int]]] = None) -> int:
    """Bytes of image ``ref`` as stored uncompressed: the sum of its layers' file contents.

    This is what ``docker image inspect``'s ``Size`` measured under the overlay2 store (the sum
    of the layers' diff sizes), and it is the same under the containerd store, where ``Size`` is
    the packed (compressed) size instead, or includes snapshots, depending on the engine version
    (see the module's docstring). It is computed from ``docker save`` (``GET /images/{ref}/get``),
    streamed through :mod:`tarfile` in stream mode, so memory stays bounded whatever the image
    (:func:`read_save`):

    * a layer is a file of the archive (classic ``<id>/layer.tar``, OCI ``blobs/sha256/<digest>``,
      Podman's ``<digest>.tar``) that is a tar stream, plain or gzip- or zstd-compressed, told by
      its magic bytes (configs and manifests are JSON and skipped);
    * only the layers named in the archive's ``manifest.json`` count (``docker save`` writes one
      in every layout; without it, or with a named layer missing, the archive is truncated and
      this raises), and a layer listed twice counts once (it is stored once);
    * inside a layer, regular files count their size, symlinks their target's length, and
      whiteouts, directories and hard links 0 (:func:`layer_files_size`).

    zstd: Python 3.11 has no zstd decompressor. With neither Python 3.14's ``compression.zstd``
    nor the ``zstandard`` package installed, a zstd layer's size is taken from ``docker history``
    (the engine's own per-layer size; correct under overlay2, as the engine reports it under
    containerd). ``history`` replaces that lookup in tests.

    Raises :class:`ImageFactsError` (French) when the image is absent, the export breaks or takes
    longer than ``timeout`` seconds.
    """
    import docker  # local: the pure helpers above need no Docker SDK

    what = f"l'image {ref}"
    try:
        response = _save_response(client, ref, timeout)
        with ChunkReader(response.iter_content(SAVE_CHUNK), _now() + timeout, what) as raw, response:
            saved = read_save(io.BufferedReader(raw, SAVE_CHUNK), what)
    except docker.errors.NotFound:
        raise ImageFactsError(f"image {ref} absente du moteur") from None
    except docker.errors.DockerException as exc:
        raise ImageFactsError(f"export de {what} illisible ({type(exc).__name__} : {exc})") from None

    entry = saved.manifest[0]
    size = saved.size(entry)
    if size is not None:
        return size
    listed = saved.layers(entry)
    config = saved.config(entry) or next(iter(saved.configs.values()), None)
    by_layer = history(config) if history is not None else _history_layer_sizes(client, ref, config)
    # The history's per-layer sizes follow the manifest's layer order (repeated layers included).
    fallback = dict(zip(listed, by_layer))
    unique = list(dict.fromkeys(listed))
    if any(saved.sizes[p] is None and p not in fallback for p in unique):
        raise ImageFactsError(f"taille de {what} inconnue : couche zstd illisible sans le paquet "
                              "`zstandard`, et `docker history` ne la donne pas")
    return sum(saved.sizes[p] if saved.sizes[p] is not None else fallback[p] for p in unique)


# -- content identity ----------------------------------------------------------------------------
def _norm(value: Any) -> Any:
    """One spelling for "nothing": missing, null, "", [] and {} all become None (stores differ)."""
    return value if value not in (None, "", [], {}) else None


def content_identity(attrs: dict) -> dict:
    """What :func:`content_id` hashes, from ``docker image inspect`` output (one image's dict)."""
    config = attrs.get("Config") or {}
    return {
        "Os": _norm(attrs.get("Os")),
        "Architecture": _norm(attrs.get("Architecture")),
        "Variant": _norm(attrs.get("Variant")),
        "Layers": list((attrs.get("RootFS") or {}).get("Layers") or []),
        "Config": {k: _norm(config.get(k)) for k in CONFIG_FIELDS},
    }


def content_id_of(attrs: dict) -> str:
    """``sha256:<hex>`` of the canonical JSON of :func:`content_identity` (sorted keys, no spaces)."""
    canonical = json.dumps(content_identity(attrs), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def content_id(client, ref: str) -> str:
    """An identity of image ``ref`` independent of the image store.

    ``Id`` is the config digest under overlay2 but the manifest digest under containerd, so the same
    image has two ids. This digest covers the platform (Os, Architecture, Variant), the layers'
    uncompressed digests (``RootFS.Layers``, the "diff ids", identical in both stores) and the
    run-time config (Cmd, Entrypoint, Env, User, WorkingDir, ExposedPorts, Volumes, Labels,
    Healthcheck): the same image loaded under either store gives the same id, and an image that
    would run differently gives another.
    """
    import docker

    try:
        return content_id_of(client.api.inspect_image(ref))
    except docker.errors.NotFound:
        raise ImageFactsError(f"image {ref} absente du moteur") from None


# -- engine facts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineFacts:
    """What the engine is, in the terms the doctor and the reports use."""

    engine: str  # "Docker Engine", "Docker Desktop" or "Podman"
    server_version: str
    api_version: str  # negotiated by the client
    min_api_version: str  # the oldest the server accepts
    image_store: str  # "containerd", or the graph driver ("overlay2", …); Podman: "podman (overlay)"
    cgroup_version: str
    cgroup_driver: str
    os: str  # OperatingSystem, e.g. "Debian GNU/Linux 12 (bookworm)", "Docker Desktop"
    os_type: str  # "linux" (or "windows" for Windows containers)
    kernel: str
    architecture: str
    rootless: bool
    builder: Optional[str]  # "buildx", "buildkit", "classic"; None when it could not be told
    builder_description: str

    @property
    def containerd_store(self) -> bool:
        return self.image_store == "containerd"

    def describe(self) -> str:
        """One French line: ``Docker Engine 20.10.24 (API 1.41, stockage overlay2, …)``."""
        return (f"{self.engine} {self.server_version} (API {self.api_version}, stockage {self.image_store}, "
                f"cgroup v{self.cgroup_version} {self.cgroup_driver}, {self.os}, {self.architecture}"
                + (", rootless" if self.rootless else "") + ")")


def engine_name(version: dict, info: dict) -> str:
    """``Podman``, ``Docker Desktop`` or ``Docker Engine`` from ``docker version`` and ``docker info``."""
    names = [str(c.get("Name", "")) for c in version.get("Components") or []]
    platform = str((version.get("Platform") or {}).get("Name", ""))
    if any("podman" in n.lower() for n in names + [platform]):
        return "Podman"
    if "docker desktop" in (platform + " " + str(info.get("OperatingSystem", ""))).lower():
        return "Docker Desktop"
    return "Docker Engine"


def is_podman(client) -> bool:
    """Whether ``client`` talks to Podman's Docker-compatible API (False when the engine does not answer)."""
    import docker.errors
    import requests.exceptions

    try:
        return engine_name(client.version(), {}) == "Podman"
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False


def image_store(info: dict, engine: str = "Docker Engine") -> str:
    """``containerd`` when the engine stores images in containerd's snapshotters, else its graph
    driver; Podman keeps its own store (containers/storage) whatever the driver."""
    driver = str(info.get("Driver") or "?")
    if engine == "Podman":
        return f"podman ({driver})"
    status = {str(k): str(v) for k, v in (info.get("DriverStatus") or []) if k is not None}
    if status.get("driver-type") == CONTAINERD_SNAPSHOTTER:
        return "containerd"
    return driver


def _server_version(version: dict, engine: str) -> str:
    for comp in version.get("Components") or []:
        if comp.get("Name") in ("Engine", "Podman Engine") and comp.get("Version"):
            return str(comp["Version"])
    return str(version.get("Version") or "?")


def _detect_builder() -> tuple[Optional[str], str]:
    """(kind, French description) from :func:`autograder.engine.builder.detect`; (None, why) when it fails."""
    try:
        from autograder.engine import builder

        found = builder.detect()
        return found.kind, found.describe()
    except Exception as exc:  # noqa: BLE001 - one unknown fact must not hide the others
        return None, f"constructeur non déterminé ({type(exc).__name__} : {exc})"


def engine_facts(client, *, builder: Optional[Callable[[], tuple[Optional[str], str]]] = None) -> EngineFacts:
    """The engine behind ``client`` (a ``docker.DockerClient``): ``docker version`` and ``docker info``,
    plus the builder :func:`autograder.engine.builder.detect` finds (``builder`` replaces it in tests)."""
    version = client.version()
    info = client.info()
    engine = engine_name(version, info)
    security = " ".join(str(s) for s in info.get("SecurityOptions") or [])
    kind, description = (builder or _detect_builder)()
    return EngineFacts(
        engine=engine,
        server_version=_server_version(version, engine),
        api_version=str(getattr(client.api, "api_version", None) or version.get("ApiVersion") or "?"),
        min_api_version=str(version.get("MinAPIVersion") or "?"),
        image_store=image_store(info, engine),
        cgroup_version=str(info.get("CgroupVersion") or "1"),  # engines before 20.10 only knew v1
        cgroup_driver=str(info.get("CgroupDriver") or "?"),
        os=str(info.get("OperatingSystem") or "?"),
        os_type=str(info.get("OSType") or version.get("Os") or "?"),
        kernel=str(info.get("KernelVersion") or version.get("KernelVersion") or "?"),
        architecture=str(info.get("Architecture") or version.get("Arch") or "?"),
        rootless="name=rootless" in security,
        builder=kind,
        builder_description=description,
    )
