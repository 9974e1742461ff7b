"""The offline classroom bundle (autograder/tools/bundle.py, `make images-export` / `make images-import`).

Safe beside other tests: the round trip uses an image of its own (a unique one-file layer imported
under a `cours-bundle-test-<hex>` tag), never removes nor reloads the course images; the full
export only reads them. Identity across image stores (overlay2 here, containerd in the engines
lane) is tested on inspect records shaped as each store writes them: the manifest compares content
ids, never the engine's Id.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import docker as docker_sdk
import pytest

from autograder.tools import bundle as bundle_mod
from autograder.tools.bundle import BundleError, SaveSizer, manifest_path, read_manifest, same_image
from autograder.engine.imagefacts import content_id_of, stored_size
from autograder.readers.images import course_images
from cases import ROOT

TEST_LABEL = "org.4data.course.bundle-test"


def bundle(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "autograder.tools.bundle", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def docker(*args, timeout=60, text=True, **kw):
    return subprocess.run(["docker", *args], capture_output=True, text=text, timeout=timeout, **kw)


def image_id(tag):
    proc = docker("image", "inspect", "-f", "{{.Id}}", tag)
    return proc.stdout.strip() if proc.returncode == 0 else None


def content(tag):
    proc = docker("image", "inspect", tag)
    return content_id_of(json.loads(proc.stdout)[0]) if proc.returncode == 0 else None


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def own_image(tmp_path_factory):
    """A small image nobody else uses: one layer holding a unique file, removed at the end."""
    token = uuid.uuid4().hex[:12]
    tag = f"cours-bundle-test-{token}:1"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        data = f"bundle round trip {token}\n".encode() * 2000
        info = tarfile.TarInfo("bundle-test.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    proc = docker("import", "--change", f"LABEL {TEST_LABEL}={token}", "-", tag, input=layer.getvalue(),
                  text=False)
    assert proc.returncode == 0, proc.stderr
    try:
        yield tag, image_id(tag), tmp_path_factory.mktemp("bundle")
    finally:
        docker("rmi", "-f", tag)
        assert image_id(tag) is None


@pytest.fixture(scope="module")
def own_bundle(own_image):
    tag, ident, folder = own_image
    archive = folder / "own.tar.gz"
    proc = bundle("export", "--image", tag, "--output", archive)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tag, ident, archive


@pytest.mark.docker
def test_round_trip_restores_the_image_with_the_same_content(own_bundle):
    tag, ident, archive = own_bundle
    manifest = json.loads(manifest_path(archive).read_text())
    assert manifest["format"] == 2 and manifest["image_store"]
    assert [(i["tag"], i["content_id"], i["engine_id"]) for i in manifest["images"]] == [(tag, content(tag), ident)]
    assert manifest["images"][0]["stored_size"] == stored_size(docker_sdk.from_env(timeout=60), tag) == 2000 * len(
        f"bundle round trip {tag[18:30]}\n")
    assert manifest["archive"] == manifest["archive"] | {"sha256": sha256(archive), "size": archive.stat().st_size}
    layers = docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", tag).stdout

    assert docker("rmi", tag).returncode == 0
    assert image_id(tag) is None
    proc = bundle("import", archive)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Loaded image: {tag}" in proc.stdout and "[OK] archive intacte" in proc.stdout
    assert f"{manifest['images'][0]['content_id'][7:19]}" in proc.stdout and "DIFFÉRENTE" not in proc.stdout
    assert image_id(tag) == ident and content(tag) == manifest["images"][0]["content_id"]
    assert docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", tag).stdout == layers


@pytest.mark.docker
def test_corrupt_truncated_or_missing_archive_is_refused_before_loading(own_bundle, tmp_path):
    tag, ident, archive = own_bundle
    if image_id(tag):
        assert docker("rmi", tag).returncode == 0
    data = archive.read_bytes()
    manifest = manifest_path(archive).read_text()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    cases = {"corrupt": ("Archive corrompue", bytes(flipped)),
             "truncated": ("Archive incomplète ou tronquée", data[: len(data) // 2])}
    try:
        for name, (message, content) in cases.items():
            bad = tmp_path / f"{name}.tar.gz"
            bad.write_bytes(content)
            manifest_path(bad).write_text(manifest)
            proc = bundle("import", bad)
            assert proc.returncode == 1, proc.stdout + proc.stderr
            assert proc.stderr.startswith(f"[ERREUR] {message}"), proc.stderr
            assert "Rien n'a été chargé" in proc.stderr and "Traceback" not in proc.stderr
            assert "docker load" not in proc.stdout
            assert image_id(tag) is None

        alone = tmp_path / "sans-manifeste.tar.gz"
        alone.write_bytes(data)
        proc = bundle("import", alone)
        assert proc.returncode == 1 and "Manifeste introuvable" in proc.stderr
        assert image_id(tag) is None
    finally:  # leave the image as the other test expects to find it, whatever the order
        if image_id(tag) is None:
            assert bundle("import", archive).returncode == 0


def test_missing_archive_gets_a_french_message(tmp_path):
    proc = bundle("import", tmp_path / "absente.tar.gz", timeout=60)
    assert proc.returncode == 1
    assert "[ERREUR] Archive introuvable" in proc.stderr and "make images-import BUNDLE=" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_manifest_sits_beside_the_archive(tmp_path):
    assert manifest_path(tmp_path / "a.tar.gz") == tmp_path / "a.manifest.json"
    assert manifest_path(tmp_path / "a.tar") == tmp_path / "a.manifest.json"


@pytest.mark.docker
def test_full_course_bundle_matches_the_engine(tmp_path):
    """The real thing, four images (~180 MB, ~20-25 s on 2 cores): ids and checksum match."""
    archive = tmp_path / "cours.tar.gz"
    start = time.monotonic()
    proc = bundle("export", "--output", archive, timeout=600)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads(manifest_path(archive).read_text())
    assert [i["tag"] for i in manifest["images"]] == list(course_images())
    for image in manifest["images"]:
        assert image["content_id"] == content(image["tag"]), image["tag"]
        assert image["engine_id"] == image_id(image["tag"]), image["tag"]
    first = manifest["images"][0]  # sized on the export's own stream, as imagefacts sizes one image
    assert first["stored_size"] == stored_size(docker_sdk.from_env(timeout=60), first["tag"])
    assert all(isinstance(i["stored_size"], int) and i["stored_size"] > 1_000_000 for i in manifest["images"])
    assert manifest["archive"]["sha256"] == sha256(archive)
    assert manifest["archive"]["size"] == archive.stat().st_size
    arch = docker("version", "--format", "{{.Server.Arch}}").stdout.strip()
    assert manifest["architecture"] == arch
    print(f"full export: {archive.stat().st_size / 1e6:.0f} MB in {seconds:.1f} s")


OTHER_ENGINE = os.environ.get("BUNDLE_OTHER_ENGINE", "")


@pytest.mark.docker
@pytest.mark.skipif(not OTHER_ENGINE, reason="BUNDLE_OTHER_ENGINE (the DOCKER_HOST of a second engine, e.g. the "
                                             "engines matrix's containerd lane) is not set")
def test_round_trip_across_engines(tmp_path):
    """Opt-in: export under this engine, import under BUNDLE_OTHER_ENGINE (e.g. overlay2 -> the
    containerd store, whose Id differs), and back; content ids match both ways. Measured
    2026-12-06 against tests/engines' sid lane (Engine 28.5.2, containerd store): OK both ways."""
    token = uuid.uuid4().hex[:12]
    tag = f"cours-bundle-test-{token}:1"
    other = {**os.environ, "DOCKER_HOST": OTHER_ENGINE}
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        data = token.encode() * 10_000
        info = tarfile.TarInfo("data.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert docker("import", "--change", f"LABEL {TEST_LABEL}={token}", "-", tag, input=layer.getvalue(),
                  text=False).returncode == 0

    def run(*args, env=None):
        proc = subprocess.run([sys.executable, "-m", "autograder.tools.bundle", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(manifest_path(Path(args[-1])).read_text())

    try:
        here = run("export", "--image", tag, "--output", tmp_path / "here.tar.gz")
        run("import", tmp_path / "here.tar.gz", env=other)
        docker("rmi", tag)
        there = run("export", "--image", tag, "--output", tmp_path / "there.tar.gz", env=other)
        run("import", tmp_path / "there.tar.gz")
        assert here["images"][0]["content_id"] == there["images"][0]["content_id"] == content(tag)
        assert here["images"][0]["stored_size"] == there["images"][0]["stored_size"] == 10_000 * len(token)
        print("stores:", here["image_store"], "->", there["image_store"],
              "engine ids:", here["images"][0]["engine_id"][:19], there["images"][0]["engine_id"][:19])
    finally:
        docker("rmi", "-f", tag)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60, env=other)


# -- identity across image stores, manifest formats, sizing the export stream ------------------------
LAYERS = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
UNDER_OVERLAY2 = {"Id": "sha256:" + "1" * 64, "Os": "linux", "Architecture": "amd64", "Size": 78_039_112,
                  "RootFS": {"Type": "layers", "Layers": LAYERS},
                  "Config": {"Cmd": ["bash"], "Env": ["PATH=/usr/bin"], "Labels": None, "Volumes": None}}
UNDER_CONTAINERD = {"Id": "sha256:" + "2" * 64, "Os": "linux", "Architecture": "amd64", "Size": 30_100_000,
                    "Descriptor": {"digest": "sha256:" + "2" * 64}, "RootFS": {"Type": "layers", "Layers": LAYERS},
                    "Config": {"Cmd": ["bash"], "Env": ["PATH=/usr/bin"], "Labels": {}}}


def test_an_image_exported_under_one_store_is_the_same_under_the_other():
    entry = {"tag": "debian:trixie-slim", "content_id": content_id_of(UNDER_OVERLAY2)}
    assert same_image(entry, UNDER_CONTAINERD, 2) and same_image(entry, UNDER_OVERLAY2, 2)
    other = json.loads(json.dumps(UNDER_CONTAINERD))
    other["RootFS"]["Layers"] = LAYERS[:1]
    assert not same_image(entry, other, 2) and not same_image(entry, None, 2)
    # Format 1 compared the engine's Id: the reason for format 2.
    assert not same_image({"tag": "debian:trixie-slim", "id": UNDER_OVERLAY2["Id"]}, UNDER_CONTAINERD, 1)


def write_manifest(tmp_path, data):
    path = tmp_path / "x.manifest.json"
    path.write_text(json.dumps(data))
    return path


def test_manifest_formats_old_read_newer_refused_in_french(tmp_path):
    archive = {"sha256": "0" * 64, "size": 1}
    old = read_manifest(write_manifest(tmp_path, {"format": 1, "archive": archive,
                                                  "images": [{"tag": "a:1", "id": "sha256:1", "size": 5}]}))
    assert old["format"] == 1 and bundle_mod.image_line(old["images"][0]) == ("1", "0 Mo")
    new = read_manifest(write_manifest(tmp_path, {"format": 2, "archive": archive, "images": [
        {"tag": "a:1", "content_id": "sha256:" + "c" * 64, "stored_size": 78_000_000}]}))
    assert bundle_mod.image_line(new["images"][0]) == ("c" * 12, "78 Mo")
    with pytest.raises(BundleError, match="format 3, plus récent.*git pull"):
        read_manifest(write_manifest(tmp_path, {"format": 3, "archive": archive, "images": []}))
    with pytest.raises(BundleError, match="Manifeste illisible"):  # format 2 without content ids
        read_manifest(write_manifest(tmp_path, {"format": 2, "archive": archive, "images": [{"tag": "a:1", "id": "x"}]}))


def save_stream(images):
    """A `docker save` of several images, Docker 20.10's layout: ``images`` maps tag -> file bytes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        entries = []
        for n, (tag, data) in enumerate(images.items()):
            layer = io.BytesIO()
            with tarfile.open(fileobj=layer, mode="w") as inner:
                info = tarfile.TarInfo(f"file-{n}")
                info.size = len(data)
                inner.addfile(info, io.BytesIO(data))
            add(f"layer{n}/layer.tar", layer.getvalue())
            entries.append({"Config": f"c{n}.json", "RepoTags": [tag], "Layers": [f"layer{n}/layer.tar"]})
        add("manifest.json", json.dumps(entries).encode())
    return out.getvalue()


def test_save_sizer_measures_each_image_of_the_export_stream():
    data = save_stream({"a:1": b"a" * 300_000, "docker.io/library/b:2": b"b" * 1234})
    sizer = SaveSizer()
    for k in range(0, len(data), 65536):
        sizer.feed(data[k:k + 65536])
    assert sizer.close() is not None and sizer.error is None
    assert (sizer.size_of("a:1"), sizer.size_of("b:2"), sizer.size_of("c:3")) == (300_000, 1234, None)


def test_save_sizer_reports_a_broken_stream_without_blocking_the_writer():
    data = save_stream({"a:1": b"a" * 300_000})
    sizer = SaveSizer()
    for k in range(0, len(data) // 2, 4096):
        sizer.feed(data[k:k + 4096])
    for _ in range(64):  # more chunks than the queue holds: the reader must keep taking them
        sizer.feed(b"\xff" * 4096)
    assert sizer.close(timeout=30) is None and "illisible" in str(sizer.error)
