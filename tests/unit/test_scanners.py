"""Scanner wrappers (hadolint, trivy) and the image-security probes, without Docker."""

import io
import json
import tarfile

import pytest

from autograder import scanners
from autograder.probes import history_secrets, layer_files, saved_layers, secret_env, secret_name

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


def test_parse_trivy_secrets_keeps_the_layer():
    (hit,) = scanners.parse_trivy(TRIVY_SECRET_JSON)
    assert (hit.rule, hit.target, hit.layer) == ("github-pat", "/app/.env", "sha256:abc")
    assert hit.created_by == "ADD dir:123 in /app"


def test_summary_is_cut_with_a_count():
    many = [scanners.Finding("hadolint", f"DL30{i:02d}", "warning", "m", i) for i in range(12)]
    text = scanners.summary(many, limit=3)
    assert text.count("\n") == 3 and text.endswith("… et 9 autre(s)")


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


def _layer(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_saved_layers_and_layer_files_see_a_file_deleted_later(tmp_path):
    layers = {"l1/layer.tar": _layer({"etc/os-release": b"debian"}),
              "l2/layer.tar": _layer({"app/.env": b"API_TOKEN=canary-123"}),
              "l3/layer.tar": _layer({"app/.wh..env": b""})}
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
