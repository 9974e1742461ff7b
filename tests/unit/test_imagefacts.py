"""autograder/engine/imagefacts.py: image sizes and identities that do not depend on the image store, and
the engine's facts. Fake clients serve `docker save` streams built here (classic overlay2 layout,
OCI layout with gzip blobs as the containerd store writes, zstd), and `docker inspect` / `version`
/ `info` outputs shaped as each engine answers; one docker-marked test measures a real image."""

import gzip
import hashlib
import io
import json
import tarfile
import tracemalloc

import docker
import pytest

from autograder.engine import imagefacts
from autograder.engine.imagefacts import ImageFactsError

# -- building layers and save archives ---------------------------------------------------------
FILES = {"usr/bin/app": b"x" * 1000, "etc/conf": b"hello\n", "srv/data.bin": b"\x00" * 70_000}


def tar_bytes(add) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add(tar)
    return buf.getvalue()


def add_file(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_entry(tar, name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tar.addfile(info)


def layer(files=None, *, symlinks=(), hardlinks=(), whiteouts=(), dirs=("usr", "usr/bin")) -> bytes:
    """A layer tar: directories, regular files, symlinks, hard links and overlay whiteouts."""

    def add(tar):
        for d in dirs:
            add_entry(tar, d, tarfile.DIRTYPE)
        for name, data in (files or {}).items():
            add_file(tar, name, data)
        for name, target in symlinks:
            add_entry(tar, name, tarfile.SYMTYPE, target)
        for name, target in hardlinks:
            add_entry(tar, name, tarfile.LNKTYPE, target)
        for name in whiteouts:  # the tar form of a whiteout: an empty regular file named .wh.<name>
            add_file(tar, name, b"")

    return tar_bytes(add)


LAYER_1 = layer(FILES, symlinks=[("usr/bin/app2", "app")], hardlinks=[("usr/bin/app-hard", "usr/bin/app")])
LAYER_2 = layer({"srv/new.txt": b"n" * 5000}, whiteouts=["etc/.wh.conf"], dirs=("srv",))
# What the overlay2 store's Size counts: regular files, plus a symlink's target length.
EXPECTED = sum(len(d) for d in FILES.values()) + len("app") + 5000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def config_doc(diff_ids, history=None):
    return {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for d in diff_ids]},
            "history": history or [{"created_by": f"step {i}"} for i in range(len(diff_ids))]}


def classic_save(layers) -> bytes:
    """`docker save` as Docker 20.10 with overlay2 writes it: <id>/layer.tar, <config>.json; a
    layer that comes back later in the chain is a symlink to its first copy."""
    config = json.dumps(config_doc([sha(x) for x in layers])).encode()
    ids = [sha(f"v1-{i}".encode()) for i in range(len(layers))]

    def add(tar):
        first = {}
        for i, data in zip(ids, layers):
            add_entry(tar, i, tarfile.DIRTYPE)
            add_file(tar, f"{i}/VERSION", b"1.0")
            add_file(tar, f"{i}/json", b'{"id": "%s"}' % i.encode())
            if data in first:
                add_entry(tar, f"{i}/layer.tar", tarfile.SYMTYPE, f"../{first[data]}/layer.tar")
            else:
                first[data] = i
                add_file(tar, f"{i}/layer.tar", data)
        add_file(tar, f"{sha(config)}.json", config)
        add_file(tar, "manifest.json", json.dumps(
            [{"Config": f"{sha(config)}.json", "RepoTags": ["img:1"],
              "Layers": [f"{i}/layer.tar" for i in ids]}]).encode())
        add_file(tar, "repositories", b"{}")

    return tar_bytes(add)


def oci_save(blobs, listed=None, history=None, extra_blobs=()) -> bytes:
    """`docker save` as the containerd store writes it: an OCI layout (blobs/sha256/<digest>) that
    still has manifest.json; ``blobs`` are the layer blobs as stored (gzip after a pull)."""
    listed = blobs if listed is None else listed
    config = json.dumps(config_doc([sha(b) for b in listed], history)).encode()
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + sha(config)},
                           "layers": [{"digest": "sha256:" + sha(b)} for b in listed]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{"digest": "sha256:" + sha(manifest)}]}).encode()

    def add(tar):
        add_entry(tar, "blobs", tarfile.DIRTYPE)
        add_entry(tar, "blobs/sha256", tarfile.DIRTYPE)
        seen = set()
        for data in [*blobs, *extra_blobs, config, manifest]:
            if sha(data) not in seen:
                seen.add(sha(data))
                add_file(tar, f"blobs/sha256/{sha(data)}", data)
        add_file(tar, "index.json", index)
        add_file(tar, "manifest.json", json.dumps(
            [{"Config": f"blobs/sha256/{sha(config)}", "RepoTags": ["img:1"],
              "Layers": [f"blobs/sha256/{sha(b)}" for b in listed]}]).encode())
        add_file(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')

    return tar_bytes(add)


def podman_save(layers) -> bytes:
    """What Podman serves for `GET /images/{name}/get` (containers/image's docker-archive):
    layers as <diff id>.tar and the config as <digest>.json at the top, manifest.json last."""
    config = json.dumps(config_doc([sha(x) for x in layers])).encode()

    def add(tar):
        for data in layers:
            add_file(tar, f"{sha(data)}.tar", data)
        add_file(tar, f"{sha(config)}.json", config)
        add_file(tar, "manifest.json", json.dumps(
            [{"Config": f"{sha(config)}.json", "RepoTags": ["localhost/img:1"],
              "Layers": [f"{sha(d)}.tar" for d in layers]}]).encode())

    return tar_bytes(add)


# -- fake docker-py clients ----------------------------------------------------------------------
class FakeResponse:
    def __init__(self, data: bytes):
        self.data = data
        self.closed = False
        self.chunk_sizes = []

    def iter_content(self, chunk_size):
        self.chunk_sizes.append(chunk_size)
        for i in range(0, len(self.data), 4096):  # small chunks: the reader must reassemble them
            yield self.data[i:i + 4096]

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeAPI:
    """The part of docker-py 7.1's APIClient that imagefacts uses."""

    def __init__(self, images=None, inspect=None, history=None, api_version="1.41"):
        self.images = images or {}
        self.inspect = inspect or {}
        self.hist = history or {}
        self.api_version = api_version
        self.responses = []

    def _url(self, path, ref):
        return path.format(ref)

    def _get(self, url, stream, timeout):
        assert stream and timeout > 0
        ref = url.split("/")[2]
        resp = FakeResponse(self.images.get(ref, b""))
        resp.ref = ref
        self.responses.append(resp)
        return resp

    def _raise_for_status(self, resp):
        if resp.ref not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {resp.ref}")

    def inspect_image(self, ref):
        if ref not in self.inspect:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return self.inspect[ref]

    def history(self, ref):
        return self.hist[ref]


class FakeClient:
    def __init__(self, version=None, info=None, **api):
        self.api = FakeAPI(**api)
        self._version = version or {}
        self._info = info or {}

    def version(self):
        return self._version

    def info(self):
        return self._info


def size_of(save: bytes, **kw) -> int:
    return imagefacts.stored_size(FakeClient(images={"img": save}), "img", **kw)


# -- stored_size ---------------------------------------------------------------------------------
def test_classic_layout_counts_files_and_symlinks_not_links_dirs_or_whiteouts():
    assert size_of(classic_save([LAYER_1, LAYER_2])) == EXPECTED


def test_containerd_oci_layout_with_gzip_blobs_gives_the_same_size_as_overlay2():
    gz = [gzip.compress(LAYER_1), gzip.compress(LAYER_2)]
    assert size_of(oci_save(gz)) == size_of(classic_save([LAYER_1, LAYER_2])) == EXPECTED


def test_podman_docker_archive_layout():
    assert size_of(podman_save([LAYER_1, LAYER_2])) == EXPECTED


def test_plain_oci_blobs_and_mixed_compression():
    assert size_of(oci_save([LAYER_1, gzip.compress(LAYER_2)])) == EXPECTED


def test_a_layer_listed_twice_counts_once():
    blob = gzip.compress(LAYER_2)
    assert size_of(oci_save([gzip.compress(LAYER_1), blob], listed=[gzip.compress(LAYER_1), blob, blob])) \
        == EXPECTED


def test_classic_layer_saved_twice_is_a_symlink_and_counts_once():
    assert size_of(classic_save([LAYER_1, LAYER_2, LAYER_2])) == EXPECTED


def test_only_the_manifests_layers_count():
    """A blob the manifest does not name (another platform's layer) is not part of the image."""
    other = gzip.compress(layer({"big": b"b" * 100_000}))
    assert size_of(oci_save([gzip.compress(LAYER_1), gzip.compress(LAYER_2)], extra_blobs=[other])) == EXPECTED


def test_empty_layer_counts_zero():
    assert size_of(oci_save([tar_bytes(lambda t: None), LAYER_2])) == 5000


def fake_zstd(data: bytes) -> bytes:
    """A zstd-tagged blob for a fake decompressor (Python 3.11 has no zstd of its own)."""
    return imagefacts.ZSTD_MAGIC + data


def test_zstd_layer_uses_the_decompressor_when_there_is_one(monkeypatch):
    def reader(raw):
        assert raw.read(4) == imagefacts.ZSTD_MAGIC
        return raw

    monkeypatch.setattr(imagefacts, "_zstd_reader", reader)
    assert size_of(oci_save([fake_zstd(LAYER_1), gzip.compress(LAYER_2)])) == EXPECTED


def test_zstd_layer_without_decompressor_falls_back_to_docker_history(monkeypatch):
    monkeypatch.setattr(imagefacts, "_zstd_reader", lambda raw: None)
    history = [{"created_by": "base"}, {"created_by": "ENV A=1", "empty_layer": True}, {"created_by": "copy"}]
    save = oci_save([fake_zstd(LAYER_1), gzip.compress(LAYER_2)], history=history)
    # The API lists the newest step first; the ENV step has no layer; 12345 is the engine's size.
    client = FakeClient(images={"img": save},
                        history={"img": [{"Size": 5000}, {"Size": 0}, {"Size": 12345}]})
    assert imagefacts.stored_size(client, "img") == 12345 + 5000


def test_zstd_fallback_can_be_injected(monkeypatch):
    monkeypatch.setattr(imagefacts, "_zstd_reader", lambda raw: None)
    seen = []
    save = oci_save([gzip.compress(LAYER_1), fake_zstd(LAYER_2)])

    def history(config):
        seen.append(config["rootfs"]["diff_ids"])
        return [1, 2]

    assert size_of(save, history=history) == EXPECTED - 5000 + 2
    assert len(seen[0]) == 2


def test_unknown_image_and_broken_stream_give_french_errors():
    with pytest.raises(ImageFactsError, match="absente"):
        imagefacts.stored_size(FakeClient(), "nope:1")
    # tarfile stops quietly at a broken header: the missing manifest (or layer) gives it away.
    with pytest.raises(ImageFactsError, match="illisible.*manifest"):
        size_of(classic_save([LAYER_1])[:3000] + b"garbage" * 300)
    with pytest.raises(ImageFactsError, match="illisible"):
        size_of(b"\0" * 4096)
    with pytest.raises(ImageFactsError, match="illisible"):
        size_of(oci_save([gzip.compress(LAYER_1)[:-200]]))


def test_deadline_stops_the_transfer(monkeypatch):
    """A slow engine: every chunk takes one (fake) second; the transfer stops at 10 s."""
    clock = iter(range(10**6))
    monkeypatch.setattr(imagefacts, "_now", lambda: next(clock))
    client = FakeClient(images={"img": classic_save([LAYER_1, LAYER_2])})
    with pytest.raises(ImageFactsError, match="délai"):
        imagefacts.stored_size(client, "img", timeout=10)
    assert client.api.responses[0].closed


def test_memory_stays_bounded_for_a_large_layer():
    big = gzip.compress(layer({"huge.bin": b"\0" * (64 << 20)}), 1)  # 64 MiB inside, ~64 KiB packed
    save = oci_save([big])
    tracemalloc.start()
    try:
        assert size_of(save) == 64 << 20
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak} bytes: a layer was read whole"


def test_layer_kind_by_magic_bytes():
    assert imagefacts.layer_kind(gzip.compress(b"x")) == "gzip"
    assert imagefacts.layer_kind(imagefacts.ZSTD_MAGIC + b"\0" * 600) == "zstd"
    assert imagefacts.layer_kind(LAYER_1[:512]) == "tar"
    assert imagefacts.layer_kind(b"\0" * 1024) == "tar"
    assert imagefacts.layer_kind(b'{"schemaVersion": 2}') is None


# -- content_id ----------------------------------------------------------------------------------
LAYERS = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
OVERLAY2 = {  # Docker 20.10, overlay2: Id is the config digest, empty fields are null
    "Id": "sha256:" + "1" * 64, "RepoTags": ["app:1"], "Size": 78_039_112, "Os": "linux",
    "Architecture": "amd64", "RootFS": {"Type": "layers", "Layers": LAYERS},
    "Config": {"Hostname": "", "User": "app", "Env": ["PATH=/usr/bin"], "Cmd": ["python", "app.py"],
               "Entrypoint": None, "WorkingDir": "/app", "Labels": None, "Volumes": None,
               "ExposedPorts": {"8000/tcp": {}}, "Image": "sha256:" + "9" * 64},
}
CONTAINERD = {  # the same image under Engine 28.5's containerd store
    "Id": "sha256:" + "2" * 64, "RepoTags": ["app:1"], "RepoDigests": ["app@sha256:" + "2" * 64],
    "Size": 30_100_000, "Os": "linux", "Architecture": "amd64", "Variant": "",
    "RootFS": {"Type": "layers", "Layers": LAYERS}, "Descriptor": {"digest": "sha256:" + "2" * 64},
    "Config": {"User": "app", "Env": ["PATH=/usr/bin"], "Cmd": ["python", "app.py"], "WorkingDir": "/app",
               "Labels": {}, "ExposedPorts": {"8000/tcp": {}}},
}


def test_content_id_is_the_same_under_both_stores():
    assert imagefacts.content_id_of(OVERLAY2) == imagefacts.content_id_of(CONTAINERD)
    assert imagefacts.content_id_of(OVERLAY2).startswith("sha256:")


@pytest.mark.parametrize("change", [
    lambda a: a["Config"].update(Cmd=["python", "other.py"]),
    lambda a: a["Config"].update(User="root"),
    lambda a: a["Config"].update(Healthcheck={"Test": ["CMD", "true"]}),
    lambda a: a["Config"].update(Labels={"k": "v"}),
    lambda a: a["RootFS"].update(Layers=LAYERS[:1]),
    lambda a: a["RootFS"].update(Layers=LAYERS[::-1]),
    lambda a: a.update(Architecture="arm64"),
    lambda a: a.update(Variant="v8"),
])
def test_content_id_changes_with_what_the_image_runs(change):
    changed = json.loads(json.dumps(OVERLAY2))
    change(changed)
    assert imagefacts.content_id_of(changed) != imagefacts.content_id_of(OVERLAY2)


def test_content_id_through_a_client():
    client = FakeClient(inspect={"app:1": CONTAINERD})
    assert imagefacts.content_id(client, "app:1") == imagefacts.content_id_of(OVERLAY2)
    with pytest.raises(ImageFactsError, match="absente"):
        imagefacts.content_id(client, "nope:1")


# -- engine_facts --------------------------------------------------------------------------------
DEBIAN_2010 = dict(  # this machine: Debian 12's docker.io
    version={"Platform": {"Name": ""}, "Version": "20.10.24+dfsg1", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
             "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1"}, {"Name": "containerd"}]},
    info={"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
          "CgroupVersion": "1", "CgroupDriver": "cgroupfs", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
          "OSType": "linux", "KernelVersion": "6.1.0", "Architecture": "x86_64",
          "SecurityOptions": ["name=seccomp,profile=default"]},
)
SID_285 = dict(  # Debian sid's docker.io 28.5 with {"features": {"containerd-snapshotter": true}}
    version={"Platform": {"Name": ""}, "Version": "28.5.2", "ApiVersion": "1.51", "MinAPIVersion": "1.24",
             "Components": [{"Name": "Engine", "Version": "28.5.2+dfsg1"}]},
    info={"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
          "CgroupVersion": "2", "CgroupDriver": "systemd", "OperatingSystem": "Debian GNU/Linux forky/sid",
          "OSType": "linux", "KernelVersion": "6.12.0", "Architecture": "x86_64",
          "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"]},
)
DESKTOP = dict(
    version={"Platform": {"Name": "Docker Desktop 4.50.0 (209931)"}, "Version": "29.0.1", "ApiVersion": "1.52",
             "MinAPIVersion": "1.44", "Components": [{"Name": "Engine", "Version": "29.0.1"}]},
    info={"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
          "CgroupVersion": "2", "CgroupDriver": "cgroupfs", "OperatingSystem": "Docker Desktop",
          "OSType": "linux", "KernelVersion": "6.10.14-linuxkit", "Architecture": "aarch64",
          "SecurityOptions": ["name=seccomp,profile=unconfined", "name=cgroupns"]},
)
PODMAN = dict(
    version={"Platform": {"Name": "linux/amd64/debian-12"}, "Version": "4.3.1", "ApiVersion": "1.41",
             "MinAPIVersion": "1.24", "Components": [{"Name": "Podman Engine", "Version": "4.3.1"},
                                                     {"Name": "Conmon"}, {"Name": "OCI Runtime (runc)"}]},
    info={"Driver": "overlay", "DriverStatus": [["Backing Filesystem", "extfs"]], "CgroupVersion": "2",
          "CgroupDriver": "systemd", "OperatingSystem": "debian", "OSType": "linux", "KernelVersion": "6.1.0",
          "Architecture": "amd64", "SecurityOptions": ["name=seccomp,profile=default", "name=rootless"]},
)


def facts(shape, api_version="1.41", kind="classic"):
    client = FakeClient(api_version=api_version, **shape)
    return imagefacts.engine_facts(client, builder=lambda: (kind, f"constructeur {kind}"))


def test_engine_facts_of_this_machines_engine():
    f = facts(DEBIAN_2010)
    assert (f.engine, f.server_version, f.api_version, f.image_store) == \
        ("Docker Engine", "20.10.24+dfsg1", "1.41", "overlay2")
    assert (f.cgroup_version, f.cgroup_driver, f.architecture, f.rootless, f.builder) == \
        ("1", "cgroupfs", "x86_64", False, "classic")
    assert not f.containerd_store
    assert "Docker Engine 20.10.24+dfsg1 (API 1.41, stockage overlay2" in f.describe()


def test_engine_facts_containerd_store():
    f = facts(SID_285, api_version="1.51", kind="buildx")
    assert (f.engine, f.image_store, f.containerd_store, f.cgroup_version, f.builder) == \
        ("Docker Engine", "containerd", True, "2", "buildx")
    assert f.server_version == "28.5.2+dfsg1" and f.min_api_version == "1.24"


def test_engine_facts_docker_desktop():
    f = facts(DESKTOP, api_version="1.52")
    assert (f.engine, f.image_store, f.architecture, f.os) == \
        ("Docker Desktop", "containerd", "aarch64", "Docker Desktop")


def test_engine_facts_podman_rootless():
    f = facts(PODMAN)
    assert (f.engine, f.server_version, f.image_store, f.rootless) == ("Podman", "4.3.1", "podman (overlay)", True)
    assert "rootless" in f.describe()


def test_engine_facts_asks_the_builder_module(monkeypatch):
    """Without an injected builder, engine_facts calls autograder.engine.builder.detect()."""
    import sys
    import types

    class Found:
        kind = "buildkit"

        def describe(self):
            return "BuildKit du moteur"

    fake = types.ModuleType("autograder.engine.builder")
    fake.detect = lambda *a, **k: Found()
    monkeypatch.setitem(sys.modules, "autograder.engine.builder", fake)
    import autograder.engine

    monkeypatch.setattr(autograder.engine, "builder", fake, raising=False)
    f = imagefacts.engine_facts(FakeClient(**DEBIAN_2010))
    assert (f.builder, f.builder_description) == ("buildkit", "BuildKit du moteur")


# -- against the real engine ---------------------------------------------------------------------
def as_containerd_after_a_pull(save_path, out_path):
    """Rewrite a classic `docker save` as the containerd store exports a pulled image: an OCI
    layout whose layers are gzip-compressed blobs (streamed, one layer at a time on disk)."""
    blobs = {}
    with tarfile.open(save_path) as src:
        manifest = json.load(src.extractfile("manifest.json"))[0]
        config = src.extractfile(manifest["Config"]).read()
        with tarfile.open(out_path, "w") as out:
            names = []
            for layer_path in manifest["Layers"]:
                if layer_path not in blobs:
                    packed = out_path.with_suffix(".blob")
                    with src.extractfile(layer_path) as raw, gzip.open(packed, "wb", compresslevel=1) as gz:
                        while chunk := raw.read(1 << 20):
                            gz.write(chunk)
                    digest = hashlib.sha256(packed.read_bytes()).hexdigest()
                    out.add(packed, f"blobs/sha256/{digest}")
                    packed.unlink()
                    blobs[layer_path] = f"blobs/sha256/{digest}"
                names.append(blobs[layer_path])
            add_file(out, f"blobs/sha256/{sha(config)}", config)
            add_file(out, "manifest.json", json.dumps(
                [{"Config": f"blobs/sha256/{sha(config)}", "RepoTags": manifest["RepoTags"], "Layers": names}]).encode())
            add_file(out, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')


@pytest.mark.docker
def test_real_image_with_gzip_layers_as_containerd_keeps_its_stored_size(tmp_path):
    """debian:trixie-slim saved by this engine, re-packed with gzip layers as after a real pull:
    the stored size is the same as from the engine's own export."""
    client = docker.from_env(timeout=60)
    ref = "debian:trixie-slim"
    save = tmp_path / "save.tar"
    with save.open("wb") as f:
        for chunk in client.api.get_image(ref, chunk_size=1 << 20):
            f.write(chunk)
    packed = tmp_path / "oci.tar"
    as_containerd_after_a_pull(save, packed)
    assert packed.stat().st_size < 0.7 * save.stat().st_size  # really compressed
    with packed.open("rb") as f:
        saved = imagefacts.read_save(f)
    assert saved.size(saved.entry_for(ref)) == imagefacts.stored_size(client, ref)



@pytest.mark.docker
def test_stored_size_matches_overlay2_size_on_this_host():
    client = docker.from_env(timeout=60)
    facts_here = imagefacts.engine_facts(client, builder=lambda: (None, ""))
    if facts_here.containerd_store or facts_here.engine == "Podman":
        # containerd: Size is the packed size; Podman 4.3: 3 % above (80.5 MB for 78.0 MB stored).
        pytest.skip(f"Size means something else under {facts_here.image_store}: nothing to compare with")
    ref = "debian:trixie-slim"
    size = client.api.inspect_image(ref)["Size"]
    assert abs(imagefacts.stored_size(client, ref) - size) <= 0.02 * size
    assert imagefacts.content_id(client, ref) == imagefacts.content_id(client, ref)
    assert imagefacts.content_id(client, ref) != imagefacts.content_id(client, "python:3.13-slim")
