"""CLI contract: exit 2 when the grader cannot run, with French and English messages."""

import json
import os
import subprocess
import sys

from cases import ROOT


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_list_json_matches_registry():
    from autograder.registry import all_labs

    proc = cli("list", "--json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert [d["lab"] for d in data] == [lab.id for lab in all_labs()]
    assert all(sum(c["points"] for c in d["checks"]) == d["max_score"] for d in data)


def test_unknown_lab_exits_2(tmp_path):
    proc = cli("check", str(tmp_path), "--lab", "77", "--json")
    assert proc.returncode == 2
    assert "TP inconnu" in proc.stderr and "Unknown lab" in proc.stderr
    assert json.loads(proc.stdout)["error"].startswith("Unknown lab")


def test_folder_that_names_no_lab_exits_2(tmp_path):
    proc = cli("check", str(tmp_path))
    assert proc.returncode == 2 and "--lab" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_folder_exits_2(tmp_path):
    proc = cli("check", str(tmp_path / "absent"), "--lab", "01")
    assert proc.returncode == 2 and "introuvable" in proc.stderr


def test_no_docker_exits_2_with_both_languages(tmp_path):
    folder = tmp_path / "01-images-conteneurs"
    folder.mkdir()
    proc = cli("check", str(folder), env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert proc.returncode == 2
    assert "Docker ne répond pas" in proc.stderr and "Docker is not reachable" in proc.stderr
    assert "Traceback" not in proc.stderr
    pre = cli("preflight", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert pre.returncode == 2
    assert cli("preflight", "--warn-only", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}).returncode == 0
