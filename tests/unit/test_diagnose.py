"""Diagnoses from evidence (autograder.probes.diagnose): no Docker, fake containers stand in."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from autograder.probes import diagnose
from autograder.probes.diagnose import Socket, has_command, parse_listening, shell_pid1
from autograder.readers.dockerfile import instructions

PROC = """  sl  local_address rem_address   st tx_queue rx_queue
   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000
   1: 0B00007F:A9FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000
   2: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F40 00000000000000000000000000000000:0000 0A
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A
   2: 0000000000000000FFFF00000100007F:0051 00000000000000000000000000000000:0000 0A
"""


def test_listening_sockets_are_read_from_proc_net_tcp_and_tcp6():
    """LISTEN rows only; IPv4, IPv6, v4-mapped; Docker's embedded DNS (127.0.0.11) left out."""
    assert parse_listening(PROC) == [Socket("::1", 80), Socket("127.0.0.1", 81), Socket("127.0.0.1", 5000),
                                     Socket("::", 8000)]
    assert parse_listening("garbage\n\n") == []


def test_a_shell_as_pid1_is_recognised():
    assert shell_pid1(["/bin/sh", "-c", "python app.py"])
    assert shell_pid1(["bash", "-c", "exec x"])
    assert not shell_pid1(["python", "app.py"])
    assert not shell_pid1(["/bin/sh", "entrypoint.sh"])
    assert not shell_pid1(None)


@pytest.mark.parametrize("text, own", [
    ("FROM python:3.13-slim\nCOPY . .\n", False),
    ('FROM python:3.13-slim\nCMD ["python", "app.py"]\n', True),
    ('FROM python:3.13-slim AS base\nENTRYPOINT ["x"]\nFROM base AS final\nRUN true\n', True),
    ('FROM python:3.13-slim AS build\nCMD ["x"]\nFROM python:3.13-slim\nCOPY --from=build /a /a\n', False),
    ("# only comments\n", False),
])
def test_own_command_follows_the_final_stage_chain(tmp_path, text, own):
    (tmp_path / "Dockerfile").write_text(text)
    assert has_command(tmp_path / "Dockerfile") is own


def test_a_dockerfile_of_comments_has_no_instruction(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("# TODO 1\n\n# TODO 2\n")
    assert instructions(path) == 0
    path.write_text("# TODO 1\nFROM python:3.13-slim\n")
    assert instructions(path) == 1


class FakeContainer:
    def __init__(self, status="running", code=0, logs=b"", oom=False):
        self.attrs = {"State": {"Status": status, "ExitCode": code, "OOMKilled": oom}}
        self._logs = logs

    def reload(self):
        pass

    def logs(self, tail=12):
        return self._logs


class FakeSandbox:
    """``exec`` answers from a table of files; the image's default command is python3."""

    def __init__(self, files):
        self.files = files
        self.client = SimpleNamespace(images=SimpleNamespace(
            get=lambda ref: SimpleNamespace(attrs={"Config": {"Cmd": ["python3"], "Entrypoint": None}})))

    def exec(self, container, cmd, timeout=30, user="", workdir=None):
        if cmd[0] != "cat":
            return 127, "not found"
        missing = [p for p in cmd[1:] if p not in self.files]
        if len(missing) == len(cmd) - 1:
            return 1, "No such file"
        return 0, "".join(self.files.get(p, "") for p in cmd[1:])


def test_an_exited_container_without_cmd_names_the_base_images_command(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\nCOPY . .\n")
    observed, hint = diagnose.not_serving(FakeSandbox({}), FakeContainer("exited", 0), 8000,
                                          workdir=tmp_path, image="img")
    assert "code de sortie 0" in observed and "ni CMD ni ENTRYPOINT" in observed
    assert "python:3.13-slim" in observed and "`python3`" in observed
    assert 'CMD ["python", "app.py"]' in hint


def test_an_exited_container_with_a_command_shows_its_code_and_logs(tmp_path):
    (tmp_path / "Dockerfile").write_text('FROM python:3.13-slim\nCMD ["python", "app.py"]\n')
    observed, hint = diagnose.not_serving(FakeSandbox({}), FakeContainer("exited", 1, b"ModuleNotFoundError: flask"),
                                          8000, workdir=tmp_path, image="img")
    assert "code de sortie 1" in observed and "ModuleNotFoundError" in observed and "CMD" not in observed
    assert "journaux" in hint


@pytest.mark.parametrize("tcp, says", [
    ("   0: 0100007F:1F40 00000000:0000 0A\n", ["127.0.0.1:8000", "0.0.0.0"]),
    ("   0: 00000000:1388 00000000:0000 0A\n", ["0.0.0.0:5000", "pas sur le port 8000"]),
    ("   0: 0100007F:1388 00000000:0000 0A\n", ["127.0.0.1:5000", "seulement en local"]),
    ("", ["aucun port TCP en écoute"]),
])
def test_a_running_container_that_does_not_answer_is_explained_by_its_sockets(tcp, says):
    sandbox = FakeSandbox({"/proc/net/tcp": "  sl local\n" + tcp, "/proc/1/cmdline": "python\0app.py\0"})
    observed, hint = diagnose.not_serving(sandbox, FakeContainer(), 8000)
    for word in says:
        assert word in observed + hint
    assert "`python app.py`" in observed


def test_the_same_state_always_gives_the_same_advice():
    sandbox = FakeSandbox({"/proc/net/tcp": "  sl\n   0: 0100007F:1F40 00000000:0000 0A\n"})
    assert len({diagnose.not_serving(sandbox, FakeContainer(), 8000) for _ in range(5)}) == 1
