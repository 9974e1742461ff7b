"""`docker save` archive → OCI image layout with gzip-compressed layers, as after a real pull.

The host engine (overlay2) saves layers uncompressed; a registry serves them gzip-compressed, and
an engine with the containerd image store keeps what it pulled. Loading the converted archive into
such an engine makes its images look pulled: layer blobs are ``…tar+gzip`` (digests recomputed),
while the config, and so the ``diff_ids`` and the image's content, stay byte for byte the same.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 1 << 20


def qualified(tag: str) -> str:
    """``python:3.13-slim`` → ``docker.io/library/python:3.13-slim`` (the name containerd stores)."""
    name, ref = tag.rsplit(":", 1) if ":" in tag.rsplit("/", 1)[-1] else (tag, "latest")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return f"{name}:{ref}"


def _blob(out: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (out / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _gzip_layer(src: Path, blobs: Path) -> tuple[str, dict]:
    """Compress one ``layer.tar``: (sha256 of the uncompressed tar, descriptor of the gzip blob)."""
    raw, packed = hashlib.sha256(), hashlib.sha256()
    tmp = blobs / f".{src.parent.name}.gz"

    class Hashing(io.RawIOBase):
        def __init__(self, fh):
            self.fh, self.size = fh, 0

        def writable(self):
            return True

        def write(self, b):
            packed.update(b)
            self.size += len(b)
            return self.fh.write(b)

    with tmp.open("wb") as fh, src.open("rb") as layer:
        sink = Hashing(fh)
        # mtime=0 and no file name: the same layer always gives the same blob (a cacheable archive).
        with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
            while chunk := layer.read(CHUNK):
                raw.update(chunk)
                gz.write(chunk)
    digest = packed.hexdigest()
    tmp.rename(blobs / digest)
    return f"sha256:{raw.hexdigest()}", {"mediaType": OCI_LAYER_GZIP, "digest": f"sha256:{digest}",
                                         "size": sink.size}


def convert(saved: Path, dest: Path, workers: int = 2, scratch: Path | None = None) -> Path:
    """Turn the ``docker save`` archive ``saved`` (legacy or OCI-with-manifest.json form) into an
    OCI layout tar at ``dest`` whose layers are gzip blobs. Each image keeps its tags (one index
    entry per tag, named by ``io.containerd.image.name``). Work folders go to ``scratch``
    (default: beside ``dest``); ``dest`` appears whole or not at all. Returns ``dest``."""
    scratch = scratch or dest.parent
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = scratch / f".{dest.name}.d"
    out = scratch / f".{dest.name}.oci"
    for d in (work, out):
        shutil.rmtree(d, ignore_errors=True)
    try:
        with tarfile.open(saved) as tar:
            tar.extractall(work, filter="tar")
        manifest = json.loads((work / "manifest.json").read_text())
        (out / "blobs" / "sha256").mkdir(parents=True)
        (out / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        layer_paths = sorted({layer for entry in manifest for layer in entry["Layers"]})
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = dict(zip(layer_paths, pool.map(
                lambda rel: _gzip_layer(work / rel, out / "blobs" / "sha256"), layer_paths)))
        index = []
        for entry in manifest:
            config_bytes = (work / entry["Config"]).read_bytes()
            diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
            found = [done[rel][0] for rel in entry["Layers"]]
            if found != diff_ids:
                raise ValueError(f"{entry['RepoTags']}: layer digests {found} differ from the config's diff_ids")
            oci_manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                            "config": {"mediaType": OCI_CONFIG, **_blob(out, config_bytes)},
                            "layers": [done[rel][1] for rel in entry["Layers"]]}
            desc = {"mediaType": OCI_MANIFEST,
                    **_blob(out, json.dumps(oci_manifest, separators=(",", ":")).encode())}
            for tag in entry.get("RepoTags") or []:
                index.append({**desc, "annotations": {"io.containerd.image.name": qualified(tag),
                                                      "org.opencontainers.image.ref.name": tag.rpartition(":")[2]}})
        (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                    "manifests": index}))
        tmp = dest.parent / f".{dest.name}.tmp"
        with tarfile.open(tmp, "w") as tar:
            for path in sorted(out.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(out)), recursive=False)
        tmp.rename(dest)
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


def layer_media_types(archive: Path) -> list[str]:
    """The media types of every layer in an OCI layout tar (for tests and the set-up report)."""
    with tarfile.open(archive) as tar:
        def read(name):
            return json.loads(tar.extractfile(name).read())
        types = []
        for desc in read("index.json")["manifests"]:
            types += [layer["mediaType"] for layer in
                      read(f"blobs/sha256/{desc['digest'].split(':', 1)[1]}")["layers"]]
        return types
