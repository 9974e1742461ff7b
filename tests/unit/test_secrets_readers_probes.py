"""Secrets and hardening machinery without Docker: secret files declared in a compose file, git's ignore
rules (readers), capability masks, secret-carrying values and secret mounts (probes)."""

from __future__ import annotations

import shutil

import pytest

from autograder.probes.compose_env import secret_value
from autograder.probes.proc_status import caps, proc_status, secret_mounts
from autograder.readers.compose_secrets import declared_secret_files
from autograder.readers.gitignore import git_ignored, normalise


def test_declared_secret_files_as_written(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services: {}\nsecrets:\n  db_password:\n    file: ./secrets/db_password.txt\n"
        "  from_env:\n    environment: DB_PASSWORD\n  templated:\n    file: ${DIR}/x\n")
    assert declared_secret_files(tmp_path) == ["./secrets/db_password.txt"]
    (tmp_path / "compose.yaml").write_text("services: [\n")
    assert declared_secret_files(tmp_path) == []
    assert declared_secret_files(tmp_path / "absent") == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git absent")
def test_git_ignored_follows_gits_rules_with_negations_and_nested_files(tmp_path):
    (tmp_path / ".gitignore").write_text(".env\nsecrets/*\n!secrets/*.example\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / ".gitignore").write_text("*.log\n")
    found = git_ignored(tmp_path, [".env", "secrets/db_password.txt", "secrets/db_password.txt.example",
                                   "app/x.log", "compose.yaml"])
    assert found == {".env": True, "secrets/db_password.txt": True, "secrets/db_password.txt.example": False,
                     "app/x.log": True, "compose.yaml": False}


def test_normalise_paths_as_written_in_compose(tmp_path):
    assert normalise(tmp_path, "./secrets/../secrets/db.txt") == "secrets/db.txt"


def test_caps_names_the_bits_of_a_mask():
    assert caps("0000000000000000") == [] and caps("") == []
    assert caps("0000000000000400") == ["NET_BIND_SERVICE"]
    assert caps("00000000a80425fb")[:3] == ["CHOWN", "DAC_OVERRIDE", "FOWNER"]


def test_secret_value_spots_the_grader_secret_and_secret_names_but_not_paths():
    assert secret_value("POSTGRES_PASSWORD", "hunter2", "")
    assert not secret_value("POSTGRES_PASSWORD_FILE", "/run/secrets/db_password", "")
    assert not secret_value("PGPASSWORD", "/run/secrets/db_password", "")
    assert secret_value("APP_OPTS", "--x s3cr3t-value", "s3cr3t-value")
    assert not secret_value("POSTGRES_USER", "app", "s3cr3t-value")


class FakeSandbox:
    def __init__(self, answers):
        self.answers = answers

    def exec(self, container, cmd, timeout=0):
        return self.answers.pop(0)


class FakeContainer:
    attrs = {"Mounts": [{"Destination": "/run/secrets/db_password"}, {"Destination": "/tmp"},
                        {"Destination": "/run/secretsx"}]}

    def reload(self):
        pass


def test_proc_status_falls_back_to_python_and_says_none_when_unreadable():
    status = "Name:\tpython\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nUid:\t10001\t10001\t10001\t10001\n"
    assert proc_status(FakeSandbox([(127, ""), (0, status)]), None)["NoNewPrivs"] == "1"
    assert proc_status(FakeSandbox([(127, ""), (1, "")]), None) is None


def test_secret_mounts_lists_the_mounts_under_run_secrets():
    assert secret_mounts(FakeContainer()) == ["/run/secrets/db_password"]
