"""The offline classroom bundle (autograder/bundle.py, `make images-export` / `make images-import`).

Safe beside other tests: the round trip uses an image of its own (a unique one-file layer imported
under a `cours-bundle-test-<hex>` tag), never removes nor reloads the course images; the full
export only reads them.
"""

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
import uuid

import pytest

from autograder.bundle import manifest_path
from autograder.images import course_images
from cases import ROOT

TEST_LABEL = "org.4data.course.bundle-test"


def bundle(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "autograder.bundle", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def docker(*args, timeout=60, text=True, **kw):
    return subprocess.run(["docker", *args], capture_output=True, text=text, timeout=timeout, **kw)


def image_id(tag):
    proc = docker("image", "inspect", "-f", "{{.Id}}", tag)
    return proc.stdout.strip() if proc.returncode == 0 else None


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
def test_round_trip_restores_the_image_with_the_same_id(own_bundle):
    tag, ident, archive = own_bundle
    manifest = json.loads(manifest_path(archive).read_text())
    assert [(i["tag"], i["id"]) for i in manifest["images"]] == [(tag, ident)]
    assert manifest["archive"] == manifest["archive"] | {"sha256": sha256(archive), "size": archive.stat().st_size}
    layers = docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", tag).stdout

    assert docker("rmi", tag).returncode == 0
    assert image_id(tag) is None
    proc = bundle("import", archive)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Loaded image: {tag}" in proc.stdout and "[OK] archive intacte" in proc.stdout
    assert image_id(tag) == ident
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
        assert image["id"] == image_id(image["tag"]), image["tag"]
    assert manifest["archive"]["sha256"] == sha256(archive)
    assert manifest["archive"]["size"] == archive.stat().st_size
    arch = docker("version", "--format", "{{.Server.Arch}}").stdout.strip()
    assert manifest["architecture"] == arch
    print(f"full export: {archive.stat().st_size / 1e6:.0f} MB in {seconds:.1f} s")
