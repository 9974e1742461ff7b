"""`make doctor` (autograder/tools/doctor.py): each condition it diagnoses is detected, simulated where
needed (a CRLF file, a taken port, no daemon, a closed URL, a fake `docker info`, a huge disk
threshold), and `make doctor`, `make check` and `make lab` use it."""

import http.server
import os
import re
import socket
import subprocess
import sys
import threading

import pytest

from autograder.tools import doctor
from autograder.tools.doctor_base import Context, Settings, Status
from autograder.engine.imagefacts import EngineFacts
from autograder.engine.runner import is_text_source
from autograder.engine.docker_api import JOB_LABEL
from cases import ROOT, free_port

NO_DAEMON = "unix:///nonexistent/docker.sock"
TAG = re.compile(r"^\[(OK|INFO|WARN|FAIL|SKIP)\] ")


def settings(tmp_path, **kw):
    """Settings that touch nothing of the machine unless a test asks for it."""
    base = dict(ports=(), paths=(tmp_path,), images=(), disk_path=tmp_path, hub_url="http://127.0.0.1:9/v2/",
                hub_timeout_s=2.0, host_gpu=False)
    return Settings(**{**base, **kw})


def run(check_id, s, **ctx_kw):
    [check] = doctor.select(doctor.checks(s), [check_id])
    return doctor.run_check(check, Context(s, **ctx_kw))


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


# -- CRLF ----------------------------------------------------------------------------------------
def test_crlf_files_are_named_with_their_fix(tmp_path):
    lab = tmp_path / "04-registre"
    (lab / "initdb").mkdir(parents=True)
    (lab / "publier.sh").write_bytes(b"#!/bin/sh\r\necho ok\r\n")
    (lab / "compose.yaml").write_bytes(b"services:\r\n  db:\r\n    image: postgres:17\r\n")
    (lab / "Dockerfile.mono").write_bytes(b"FROM debian:trixie-slim\r\n")
    (lab / "Dockerfile").write_bytes(b"FROM python:3.13-slim\n")          # LF: fine
    (lab / "enonce.ipynb").write_bytes(b'{"cells": []}\r\n')            # not run in a container
    (lab / ".ipynb_checkpoints").mkdir()
    (lab / ".ipynb_checkpoints" / "x.sh").write_bytes(b"echo\r\n")      # editor's copy: skipped
    f = run("crlf", settings(tmp_path))
    assert f.status is Status.FAIL
    for name in ("publier.sh", "compose.yaml", "Dockerfile.mono"):
        assert name in f.observed
    assert "enonce.ipynb" not in f.observed and "x.sh" not in f.observed
    assert "sed -i" in f.fix and "core.autocrlf input" in f.fix and "dos2unix" in f.fix
    assert "publier.sh" in f.fix  # the command names the files


def test_no_crlf_passes_and_a_missing_folder_warns(tmp_path):
    (tmp_path / "run.sh").write_bytes(b"#!/bin/sh\necho ok\n")
    assert run("crlf", settings(tmp_path)).status is Status.OK
    assert run("crlf", settings(tmp_path, paths=(tmp_path / "absent",))).status is Status.WARN


def test_text_sources_include_dockerfile_variants_and_env_examples(tmp_path):
    for name in ("Dockerfile", "Dockerfile.mono", "api.Dockerfile", ".env.example", "run.sh", "compose.yml"):
        assert is_text_source(tmp_path / name), name
    for name in ("enonce.ipynb", "data.csv", "logo.png"):
        assert not is_text_source(tmp_path / name), name


def test_the_repository_labs_have_no_crlf():
    assert run("crlf", Settings(ports=(), images=())).status is Status.OK


# -- ports ---------------------------------------------------------------------------------------
def test_taken_port_fails_and_names_the_program(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)  # no container to look at: the program is named
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        f = run(f"port-{port}", settings(tmp_path, ports=(port,)))
    assert f.status is Status.FAIL
    assert f"PID {os.getpid()}" in f.observed and "python" in f.observed.lower()
    assert f"kill {os.getpid()}" in f.fix


def test_free_port_passes(tmp_path):
    port = free_port()
    assert run(f"port-{port}", settings(tmp_path, ports=(port,))).status is Status.OK


@pytest.mark.docker
def test_port_published_by_a_container_names_the_container(tmp_path, docker_client):
    port = free_port()
    job = "doctor-test"
    container = docker_client.containers.run(
        "debian:trixie-slim", ["sleep", "60"], detach=True, labels={JOB_LABEL: job},
        ports={"8000/tcp": ("127.0.0.1", port)}, name=f"doctor-test-{port}")
    try:
        f = run(f"port-{port}", settings(tmp_path, ports=(port,)))
    finally:
        container.remove(force=True, v=True)
    assert f.status is Status.FAIL
    assert f"doctor-test-{port}" in f.observed and "make clean-docker" in f.fix


# -- Docker engine, Compose ----------------------------------------------------------------------
def test_no_daemon_fails_the_engine_and_skips_what_needs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)
    s = settings(tmp_path, images=("debian:trixie-slim",))
    results = dict((c.id, f) for c, f in doctor.diagnose(doctor.checks(s), Context(s)))
    assert results["docker-engine"].status is Status.FAIL
    assert NO_DAEMON in results["docker-engine"].observed and "démarrez Docker" in results["docker-engine"].fix
    assert results["image-debian:trixie-slim"].status is Status.SKIP
    assert results["nvidia"].status is Status.SKIP
    assert results["disk"].status is Status.OK and str(tmp_path) in results["disk"].observed


def test_no_daemon_exit_codes_per_profile(tmp_path):
    env = {"DOCKER_HOST": NO_DAEMON}
    full = cli("doctor", "--path", str(tmp_path), "--hub-url", "http://127.0.0.1:9/v2/", env=env)
    assert full.returncode == 1 and "[FAIL] Moteur Docker joignable" in full.stdout
    (tmp_path / "run.sh").write_bytes(b"echo\r\n")
    check = cli("doctor", "--for", "check", "--path", str(tmp_path), env=env)
    assert check.returncode == 2, check.stderr
    assert "[FAIL] Moteur Docker" in check.stderr and "[WARN] Fins de ligne" in check.stderr
    assert "run.sh" in check.stderr and "Traceback" not in check.stderr
    lab = cli("doctor", "--for", "lab", env=env)
    assert lab.returncode == 0 and "[WARN] Moteur Docker" in lab.stderr
    assert cli("preflight", env=env).returncode == 2


def test_unknown_check_exits_2_in_french():
    proc = cli("doctor", "--only", "nope")
    assert proc.returncode == 2 and "Vérification inconnue" in proc.stderr and "docker-engine" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.docker
def test_engine_and_compose_answer(tmp_path):
    s = settings(tmp_path)
    assert run("docker-engine", s).status is Status.OK
    compose = run("compose", s)
    assert compose.status is Status.OK and re.search(r"Compose 2\.\d+", compose.observed)


# -- architecture and images ---------------------------------------------------------------------
@pytest.mark.docker
def test_missing_image_fails_with_make_images(tmp_path):
    f = run("image-course-doctor-absent:never", settings(tmp_path, images=("course-doctor-absent:never",)))
    assert f.status is Status.FAIL and f.observed == "absente"
    assert "make images" in f.fix and "make images-import" in f.fix


@pytest.mark.docker
def test_present_image_reports_its_architecture_and_stored_size(tmp_path, docker_client):
    from autograder.engine.imagefacts import stored_size

    tag = "debian:trixie-slim"
    arch = docker_client.api.inspect_image(tag)["Architecture"]
    s = settings(tmp_path, images=(tag,))
    f = run(f"image-{tag}", s)
    assert f.status is Status.OK and f"linux/{arch}" in f.observed
    assert f"{stored_size(docker_client, tag) // 1_000_000} Mo" in f.observed  # not inspect's Size
    quick = run(f"image-{tag}", settings(tmp_path, images=(tag,), measure_sizes=False))
    assert quick.status is Status.OK and "Mo" not in quick.observed
    other = "s390x" if arch != "s390x" else "amd64"
    f = run(f"image-{tag}", s, info={"Architecture": other})  # an engine of another architecture
    assert f.status is Status.WARN and f"REBUILD={tag} make images" in f.fix


def test_architecture_compares_host_and_engine(tmp_path):
    import platform

    host = platform.machine()
    f = run("arch", settings(tmp_path), info={"Architecture": host, "OperatingSystem": "Docker Desktop",
                                               "KernelVersion": "6.10.14-linuxkit"})
    assert f.status is Status.OK and "Docker Desktop, noyau 6.10.14-linuxkit" in f.observed
    f = run("arch", settings(tmp_path), info={"Architecture": "s390x"})
    assert f.status is Status.WARN and host in f.observed and "s390x" in f.observed


def test_course_images_come_from_the_shared_list():
    from autograder.readers.images import course_images

    listed = course_images()
    assert listed[0] == "debian:trixie-slim" and "postgres:17" in listed
    assert [c.id for c in doctor.checks(Settings()) if c.id.startswith("image-")] == [f"image-{t}" for t in listed]


# -- what the engine is ---------------------------------------------------------------------------
def engine(**kw):
    """The facts of this machine's engine (Debian 12's docker.io), changed by ``kw``."""
    base = dict(engine="Docker Engine", server_version="20.10.24+dfsg1", api_version="1.41", min_api_version="1.12",
                image_store="overlay2", cgroup_version="1", cgroup_driver="cgroupfs",
                os="Debian GNU/Linux 12 (bookworm)", os_type="linux", kernel="6.1.0", architecture="x86_64",
                rootless=False, builder="buildx", builder_description="BuildKit (plugin buildx 0.13.1)")
    return EngineFacts(**{**base, **kw})


def test_current_engine_passes_and_names_engine_and_api(tmp_path):
    f = run("engine-version", settings(tmp_path), facts=engine(server_version="29.0.1", api_version="1.52"))
    assert f.status is Status.OK and f.observed == "Docker Engine 29.0.1, API 1.52"
    assert run("engine-version", settings(tmp_path), facts=engine()).status is Status.OK


@pytest.mark.parametrize("kw", [dict(api_version="1.40"), dict(server_version="19.03.15", api_version="1.41"),
                                dict(engine="Docker Desktop", server_version="2.5.0", api_version="1.40")])
def test_old_engine_or_api_fails_with_upgrade(tmp_path, kw):
    f = run("engine-version", settings(tmp_path), facts=engine(**kw))
    assert f.status is Status.FAIL and ("1.41" in f.observed or "20.10" in f.observed)
    assert f.status is Status.FAIL and "mettez Docker à jour" in f.fix


def test_podman_warns_it_is_supported_through_its_socket(tmp_path):
    f = run("engine-version", settings(tmp_path), facts=engine(engine="Podman", server_version="4.3.1",
                                                               image_store="podman (overlay)"))
    assert f.status is Status.WARN and "Podman 4.3.1" in f.observed and "socket compatible Docker" in f.observed
    assert "podman system service" in f.fix and "DOCKER_HOST" in f.fix
    store = run("store", settings(tmp_path), facts=engine(engine="Podman", image_store="podman (overlay)"))
    assert store.status is Status.OK and "Podman" in store.observed


def test_image_store_containerd_is_ok_with_a_note_on_sizes(tmp_path):
    f = run("store", settings(tmp_path), facts=engine(image_store="containerd"))
    assert f.status is Status.OK and "containerd" in f.observed and "couches décompressées" in f.observed
    assert run("store", settings(tmp_path), facts=engine()).observed.startswith("overlay2")
    vfs = run("store", settings(tmp_path), facts=engine(image_store="vfs"))
    assert vfs.status is Status.WARN and "overlay2" in vfs.fix


def test_classic_builder_warns_how_to_get_buildkit(tmp_path):
    f = run("builder", settings(tmp_path), facts=engine(builder="classic", builder_description="constructeur classique"))
    assert f.status is Status.WARN and "RUN --mount" in f.observed
    assert "docker-buildx-plugin" in f.fix and "docker-buildx" in f.fix and "Docker Desktop" in f.fix
    for kind in ("buildx", "buildkit"):
        ok = run("builder", settings(tmp_path), facts=engine(builder=kind, builder_description="BuildKit"))
        assert ok.status is Status.OK and ok.observed == "BuildKit"
    unknown = run("builder", settings(tmp_path), facts=engine(builder=None, builder_description="non déterminé"))
    assert unknown.status is Status.INFO
    forced = run("builder", settings(tmp_path), facts=engine(
        builder="classic", builder_description="builder classique (imposé par AUTOGRADER_BUILDER)"))
    assert forced.status is Status.WARN and "unset AUTOGRADER_BUILDER" in forced.fix


def test_podman_builds_with_buildah_not_a_missing_plugin(tmp_path):
    f = run("builder", settings(tmp_path), facts=engine(
        engine="Podman", builder="classic", builder_description="builder classique (Podman : son API construit "
                                                                "avec Buildah)"))
    assert f.status is Status.INFO and "Buildah" in f.observed and not f.fix


def test_cgroup_v1_is_info_and_v2_ok(tmp_path):
    v1 = run("cgroup", settings(tmp_path), facts=engine())
    assert v1.status is Status.INFO and "cgroup v1" in v1.observed and "v2 est la norme" in v1.observed
    v2 = run("cgroup", settings(tmp_path), facts=engine(cgroup_version="2", cgroup_driver="systemd"))
    assert v2.status is Status.OK and v2.observed == "cgroup v2 (pilote systemd)"


def test_engine_lines_skip_without_docker(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)
    for check_id in ("engine-version", "store", "builder", "cgroup"):
        assert run(check_id, settings(tmp_path)).status is Status.SKIP


@pytest.mark.docker
def test_this_engines_facts_are_named(tmp_path):
    s = settings(tmp_path)
    version = run("engine-version", s)
    assert version.status in (Status.OK, Status.WARN) and re.search(r"API 1\.\d+", version.observed)
    store = run("store", s)
    assert store.status is Status.OK and store.observed
    assert run("builder", s).status in (Status.OK, Status.WARN, Status.INFO)
    assert run("cgroup", s).observed.startswith("cgroup v")


# -- disk ----------------------------------------------------------------------------------------
def test_low_disk_fails_with_the_threshold(tmp_path):
    f = run("disk", settings(tmp_path, min_free_gb=1e9), info={})
    assert f.status is Status.FAIL and "1e+09 Go" in f.observed and "docker system df" in f.fix
    assert run("disk", settings(tmp_path, min_free_gb=0), info={}).status is Status.OK


def test_disk_measures_dockers_data_root_when_it_is_on_this_machine(tmp_path):
    root = tmp_path / "docker-root"
    root.mkdir()
    f = run("disk", settings(tmp_path, min_free_gb=0), info={"DockerRootDir": str(root)})
    assert f.status is Status.OK and f"{root} (données de Docker)" in f.observed
    f = run("disk", settings(tmp_path, min_free_gb=0), info={"DockerRootDir": "/nonexistent/docker"})
    assert str(tmp_path) in f.observed and "pas sur cette machine" in f.observed


# -- NVIDIA runtime ------------------------------------------------------------------------------
def test_nvidia_runtime_absent_or_present(tmp_path):
    runc = {"Runtimes": {"runc": {"path": "runc"}}}
    without_gpu = run("nvidia", settings(tmp_path, host_gpu=False), info=runc)
    assert without_gpu.status is Status.INFO and "TP 11" in without_gpu.observed
    with_gpu = run("nvidia", settings(tmp_path, host_gpu=True), info=runc)
    assert with_gpu.status is Status.WARN and "NVIDIA Container Toolkit" in with_gpu.fix
    present = run("nvidia", settings(tmp_path), info={"Runtimes": {"runc": {}, "nvidia": {"path": "nvidia"}}})
    assert present.status is Status.OK


# -- Docker Hub ----------------------------------------------------------------------------------
def test_docker_hub_unreachable_points_to_offline_images(tmp_path):
    f = run("docker-hub", settings(tmp_path, hub_url=f"http://127.0.0.1:{free_port()}/v2/"))
    assert f.status is Status.WARN and "connexion refusée" in f.observed
    assert "make images" in f.fix and "make images-import" in f.fix


def test_docker_hub_silent_times_out(tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v2/"
        f = run("docker-hub", settings(tmp_path, hub_url=url, hub_timeout_s=0.5))
    assert f.status is Status.WARN and "pas de réponse en 0.5 s" in f.observed


def test_docker_hub_answering_401_is_reachable(tmp_path):
    class Registry(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # what registry-1.docker.io/v2/ answers without a token
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        f = run("docker-hub", settings(tmp_path, hub_url=f"http://127.0.0.1:{server.server_port}/v2/"))
    finally:
        server.shutdown()
        server.server_close()
    assert f.status is Status.OK and "HTTP 401" in f.observed


# -- profiles and exit status --------------------------------------------------------------------
def test_profiles_select_what_make_lab_and_make_check_need():
    all_checks = doctor.checks(Settings())
    ids = lambda name: [c.id for c in doctor.select(all_checks, doctor.PROFILES[name].only, strict=False)]
    assert ids("lab") == ["docker-engine", "compose", "port-8888"]
    assert ids("check")[:3] == ["docker-engine", "compose", "engine-version"] and "crlf" in ids("check")
    assert any(i.startswith("image-") for i in ids("check")) and not any(i.startswith("port-") for i in ids("check"))
    assert ids("preflight") == ["docker-engine", "compose"]


@pytest.mark.parametrize("profile, failing, code, shown", [
    ("all", "crlf", 1, Status.FAIL),
    ("check", "crlf", 0, Status.WARN),            # CRLF only warns before grading
    ("check", "docker-engine", 2, Status.FAIL),   # no engine: exit 2, as the grader would
    ("lab", "docker-engine", 0, Status.WARN),     # never keeps JupyterLab from starting
    ("preflight", "compose", 2, Status.FAIL),
])
def test_exit_status_and_downgrades(profile, failing, code, shown):
    p = doctor.PROFILES[profile]
    results = [(doctor.Check(failing, "t", lambda _: None), doctor.Finding(Status.FAIL, "x", "y")),
               (doctor.Check("arch", "t", lambda _: None), doctor.Finding(Status.OK, "x"))]
    out = doctor.downgraded(results, p, warn_only=False)
    assert out[0][1].status is shown and doctor.exit_status(out, p, warn_only=False) == code
    assert doctor.exit_status(doctor.downgraded(results, p, warn_only=True), p, warn_only=True) == 0


# -- the real targets ----------------------------------------------------------------------------
@pytest.mark.docker  # without an engine `make doctor` exits 2
def test_make_doctor_prints_one_tagged_line_per_check_in_a_narrow_terminal():
    proc = subprocess.run(["make", "--no-print-directory", "doctor"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "60"})
    assert proc.returncode in (0, 1), proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and all(TAG.match(l) or l.startswith(" " * 7) for l in lines), proc.stdout
    assert all(len(l) <= 60 for l in lines), proc.stdout
    tagged = [l for l in lines if TAG.match(l)]
    assert len(tagged) == len(doctor.checks(Settings())) + 1 and "Bilan" in tagged[-1]
    assert (proc.returncode == 1) == any(l.startswith("[FAIL]") for l in tagged)


def test_make_check_stops_on_the_doctor_without_docker():
    proc = subprocess.run(["make", "--no-print-directory", "check", "LAB=01"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "DOCKER_HOST": NO_DAEMON})
    assert proc.returncode == 2
    assert "[FAIL] Moteur Docker joignable" in proc.stderr and "Correction du TP" not in proc.stderr
