"""autograder.notebook, the chapter notebooks' helpers, without Docker."""

import json

import pytest

from autograder import notebook
from autograder.notebook import MISSING_RECORDING, CommandFailed, Course, _split_commands


@pytest.fixture
def recordings(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook, "RECORDINGS", tmp_path / "rec")
    monkeypatch.setattr(notebook, "CHAPTERS", tmp_path / "chapters")
    monkeypatch.delenv("COURSE_RECORD", raising=False)
    return tmp_path / "rec"


def live_course(name="p/nb"):
    """A course in live mode without a daemon: only shell commands (no Docker object) are used."""
    course = Course(name, None)
    course.live = True
    return course


def test_split_commands_joins_continuations_and_drops_blank_lines():
    text = "docker run --rm \\\n  python:3.13-slim true\n\n# a comment\necho fin\n"
    assert _split_commands(text) == ["docker run --rm \\\n  python:3.13-slim true", "# a comment", "echo fin"]


def test_live_shell_prints_commands_and_output(recordings, capsys):
    live_course().shell("# NBVAL_CHECK_OUTPUT\necho bonjour\nprintf 'a\\nb\\n'")
    out = capsys.readouterr().out
    assert out == "$ echo bonjour\nbonjour\n$ printf 'a\\nb\\n'\na\nb\n"


def test_a_failing_command_fails_the_cell_and_stops_it(recordings, capsys):
    with pytest.raises(CommandFailed, match="code 3"):
        live_course().shell("sh -c 'exit 3'\necho jamais")
    assert "jamais" not in capsys.readouterr().out.replace("$ echo jamais", "")


def test_expect_fail_needs_a_failure(recordings, capsys):
    live_course().shell("true\nfalse\necho jamais", expect_fail=True)
    out = capsys.readouterr().out
    assert "échec attendu" in out and "$ echo jamais" not in out
    with pytest.raises(CommandFailed, match="devait échouer"):
        live_course().shell("true", expect_fail=True)


def test_a_hung_command_is_killed_at_its_deadline(recordings, capsys):
    with pytest.raises(CommandFailed, match="code 124"):
        live_course().shell("sleep 60 | cat", timeout=1)
    assert "interrompu après 1 s" in capsys.readouterr().out


def test_record_then_replay_in_demo_mode(recordings, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RECORD", "1")

    class FakeDocker:
        def version(self):
            return {"Version": "99.0"}

    monkeypatch.setattr(Course, "_objects", lambda self: {})
    course = Course("p/nb", FakeDocker())
    course.shell("echo enregistré")
    assert course.measure("tailles", lambda: {"slim": 129}) == {"slim": 129}
    stored = json.loads((recordings / "p" / "nb.json").read_text())
    assert stored["cells"]["echo enregistré"]["output"] == "$ echo enregistré\nenregistré"
    assert stored["docker"] == "99.0"
    course._cleaned = True
    capsys.readouterr()

    monkeypatch.delenv("COURSE_RECORD")
    demo = Course("p/nb", None, "test")
    demo.shell("echo enregistré\n")
    assert demo.measure("tailles", lambda: pytest.fail("never called in demo mode")) == {"slim": 129}
    out = capsys.readouterr().out
    assert "[démo]" in out and "$ echo enregistré\nenregistré" in out
    demo.shell("echo autre chose")
    assert demo.measure("absent", lambda: 1) is None
    assert capsys.readouterr().out.count(MISSING_RECORDING) == 2


def test_demo_mode_when_no_daemon_or_on_binder(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert notebook._docker_client()[0] is None
    monkeypatch.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
    assert notebook._docker_client() == (None, "Binder n'a pas de moteur Docker")
    monkeypatch.setenv("COURSE_NO_DOCKER", "1")
    assert notebook._docker_client() == (None, "COURSE_NO_DOCKER=1")


def test_cleanup_patterns():
    assert notebook.NAME_RE.match("cours-volumes-pg") and notebook.NAME_RE.match("/cours-x")
    assert not notebook.NAME_RE.match("ag-job-cours-x")
    for tag in ("cours/app", "cours-app", "127.0.0.1:5000/cours-registre/app", "localhost:5000/cours/app"):
        assert notebook.IMAGE_RE.search(tag), tag
    for tag in ("python", "postgres", "discours-app", "ecours/app"):
        assert not notebook.IMAGE_RE.search(tag), tag


def test_cleanup_only_touches_what_the_notebook_named(recordings):
    course = live_course()
    course.workdir.mkdir(parents=True)
    (course.workdir / "compose.yaml").write_text("name: cours-compose\nservices: {}\n")
    course._commands.append("docker run -d --name cours-volumes-pg postgres:17\n"
                            "docker tag x 127.0.0.1:5000/cours-registre/app:1.0\ndocker build -t cours/cache-app:1.0 .")
    mentions = course._mentioned()
    assert mentions >= {"cours-compose", "cours-volumes-pg", "cours-registre/app", "cours/cache-app"}
    for name in ("cours-volumes-pg", "cours-compose-db-1", "cours-compose_pgdata", "cours-compose_default",
                 "127.0.0.1:5000/cours-registre/app", "cours/cache-app"):
        assert Course._owned(name, mentions), name
    for name in ("cours-volumes-pg2", "cours-reseau1-api", "cours-composer", "cours/cache-app2", "cours-x"):
        assert not Course._owned(name, mentions), name
