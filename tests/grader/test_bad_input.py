"""Bad submissions get a French message and a score, never a traceback; exit status 1."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from cases import ROOT, SOLUTIONS

pytestmark = pytest.mark.docker

LAB01, LAB02 = "01-images-conteneurs", "02-volumes-persistance"


def run(folder):
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(folder), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def by_id(result):
    return {c["id"]: c for c in result["checks"]}


def solution_copy(tmp_path, lab):
    dest = tmp_path / lab
    shutil.copytree(SOLUTIONS / lab, dest)
    return dest


def test_empty_folder(tmp_path):
    (tmp_path / LAB01).mkdir()
    code, result = run(tmp_path / LAB01)
    assert code == 1 and result["score"] == 0
    checks = by_id(result)
    assert "Dockerfile introuvable" in checks["01-build"]["message"]
    assert checks["01-http-health"]["status"] == "skipped"
    assert "dépend de 01-build" in checks["01-http-health"]["message"]


def test_compose_yaml_error(tmp_path):
    folder = solution_copy(tmp_path, LAB02)
    (folder / "compose.yaml").write_text("services:\n  db:\n    image: postgres:17\n   environment: [\n")
    code, result = run(folder)
    assert code == 1 and result["score"] == 0
    checks = by_id(result)
    assert checks["02-compose-valid"]["status"] == "failed"
    assert "docker compose config" in checks["02-compose-valid"]["message"]
    assert all(c["status"] == "skipped" for i, c in checks.items() if i != "02-compose-valid")


def test_dockerfile_that_does_not_build(tmp_path):
    folder = solution_copy(tmp_path, LAB01)
    (folder / "Dockerfile").write_text("FROM python:3.13-slim\nRUN exit 3\n")
    code, result = run(folder)
    checks = by_id(result)
    assert code == 1
    assert checks["01-build"]["status"] == "failed"
    assert "se construit" in checks["01-build"]["message"]
    assert checks["01-base-image"]["status"] == "passed"  # static checks still run


def test_container_that_exits_at_once(tmp_path):
    folder = solution_copy(tmp_path, LAB01)
    with (folder / "Dockerfile").open("a") as fh:
        fh.write('\nCMD ["python", "-c", "raise SystemExit(4)"]\n')
    code, result = run(folder)
    checks = by_id(result)
    assert code == 1
    assert checks["01-build"]["status"] == "passed"
    assert checks["01-http-health"]["status"] == "failed"
    assert "s'est arrêté (code de sortie 4)" in checks["01-http-health"]["message"]


def test_crlf_line_endings_are_reported(tmp_path):
    folder = solution_copy(tmp_path, LAB01)
    dockerfile = folder / "Dockerfile"
    dockerfile.write_bytes(dockerfile.read_bytes().replace(b"\n", b"\r\n"))
    code, result = run(folder)
    assert any("CRLF" in note and "Dockerfile" in note for note in result["notes"])
    assert by_id(result)["01-build"]["status"] == "passed"
