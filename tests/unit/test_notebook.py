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


# -- start(): leftovers of an interrupted earlier run ----------------------------------------------
class FakeApi:
    """The few docker-py low-level calls that cleanup and sweep use, over an in-memory engine."""

    def __init__(self, containers=(), networks=(), volumes=(), images=(), vanished=()):
        import docker

        self.errors = docker.errors
        self.state = {"containers": list(containers), "networks": list(networks), "volumes": list(volumes),
                      "images": list(images)}
        self.vanished = set(vanished)  # removed by someone else meanwhile: NotFound
        self.removed = []

    def containers(self, all=False):  # noqa: A002 - docker-py's signature
        return [{"Id": f"id-{n}", "Names": [f"/{n}"]} for n in self.state["containers"]]

    def networks(self):
        return [{"Id": f"id-{n}", "Name": n} for n in self.state["networks"]]

    def volumes(self):
        return {"Volumes": [{"Name": n} for n in self.state["volumes"]]}

    def images(self):
        return [{"RepoTags": [t]} for t in self.state["images"]]

    def _remove(self, key, **_):
        name = key.removeprefix("id-")
        if name in self.vanished:
            raise self.errors.NotFound(f"{name} is gone")
        self.removed.append(name)

    remove_container = remove_network = remove_volume = remove_image = _remove


class FakeDocker:
    def __init__(self, api):
        self.api = api

    def version(self):
        return {"Version": "99.0"}


def write_notebook(root, notebook, code_cells, markdown=""):
    path = root / f"{notebook}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [{"cell_type": "markdown", "metadata": {}, "source": markdown}]
    cells += [{"cell_type": "code", "metadata": {}, "source": src.splitlines(keepends=True), "outputs": [],
               "execution_count": None} for src in code_cells]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def notebooks_dir(tmp_path, monkeypatch, recordings):
    monkeypatch.setenv("COURSE_NOTEBOOKS_DIR", str(tmp_path / "nb"))
    monkeypatch.setenv("COURSE_SCRATCH_DIR", str(tmp_path / "scratch"))
    return tmp_path / "nb"


def test_notebook_mentions_reads_every_code_cell_of_the_file(notebooks_dir):
    write_notebook(notebooks_dir, "p/nb", ["%%shell\ndocker run -d --name cours-nb-web x",
                                          "%%writefile compose.yaml\nname: cours-nb-pile\n"],
                   markdown="Comme `cours-autre-app` dans un autre carnet.")
    assert notebook.notebook_mentions("p/nb") == {"cours-nb-web", "cours-nb-pile"}
    assert notebook.notebook_mentions("p/absent") == set()
    (notebooks_dir / "p" / "casse.ipynb").write_text("{pas du json")
    assert notebook.notebook_mentions("p/casse") == set()


def test_removal_summary_in_french():
    assert notebook.removal_summary({"containers": 2, "networks": 0, "volumes": 1, "images": 0}) == \
        "2 conteneurs, 1 volume"
    assert notebook.removal_summary({"networks": 2, "images": 1}) == "2 réseaux, 1 image"
    assert notebook.removal_summary({}) == ""


def test_sweep_removes_only_what_this_notebook_names(notebooks_dir, capsys):
    write_notebook(notebooks_dir, "p/nb", ["%%shell\ndocker run -d --name cours-nb-web x\n"
                                          "docker volume create cours-nb-data\ndocker build -t cours/nb-app:1.0 ."])
    api = FakeApi(containers=["cours-nb-web", "cours-nb-web2", "cours-autre-web", "etudiant-web"],
                  networks=["cours-autre_default", "bridge"],
                  volumes=["cours-nb-data", "cours-nb-datax", "pgdata"],
                  images=["cours/nb-app:1.0", "cours/nb-app:2.0", "cours/autre-app:1.0", "python:3.13-slim"])
    course = Course("p/nb", FakeDocker(api))
    course._cleaned = True
    counts = course.sweep()
    assert sorted(api.removed) == ["cours-nb-data", "cours-nb-web", "cours/nb-app:1.0", "cours/nb-app:2.0"]
    assert counts == {"containers": 1, "networks": 0, "volumes": 1, "images": 2}
    assert capsys.readouterr().out == \
        "Restes d'une exécution interrompue supprimés : 1 conteneur, 1 volume, 2 images.\n"


def test_sweep_is_quiet_when_nothing_is_left_and_counts_only_what_it_removed(notebooks_dir, capsys):
    write_notebook(notebooks_dir, "p/nb", ["%%shell\ndocker run -d --name cours-nb-web x"])
    course = Course("p/nb", FakeDocker(FakeApi(containers=["cours-autre-web"])))
    course._cleaned = True
    assert not any(course.sweep().values()) and capsys.readouterr().out == ""
    course = Course("p/nb", FakeDocker(FakeApi(containers=["cours-nb-web"], vanished=["cours-nb-web"])))
    course._cleaned = True
    assert course.sweep()["containers"] == 0 and capsys.readouterr().out == ""


def test_sweep_does_nothing_in_demo_mode_and_reports_a_failing_daemon(notebooks_dir, capsys):
    import requests

    write_notebook(notebooks_dir, "p/nb", ["%%shell\ndocker run -d --name cours-nb-web x"])
    assert Course("p/nb", None, "test").sweep() == {}
    assert capsys.readouterr().out == ""

    class SlowApi(FakeApi):
        def containers(self, all=False):  # noqa: A002
            raise requests.exceptions.ReadTimeout("60 s")

    course = Course("p/nb", FakeDocker(SlowApi(containers=["cours-nb-web"])))
    course._cleaned = True
    assert course.sweep() == {}
    out = capsys.readouterr().out
    assert out.startswith("Restes d'une exécution précédente non vérifiés (ReadTimeout)") and "Traceback" not in out


def test_start_sweeps_before_emptying_the_scratch_folder(notebooks_dir, tmp_path, monkeypatch, capsys):
    """The previous run's scratch files count too (a compose file an older version of the cell wrote)."""
    monkeypatch.chdir(tmp_path)
    write_notebook(notebooks_dir, "p/nb", ["from autograder.notebook import start\ncours = start('p/nb')",
                                          "%%shell\ndocker run -d --name cours-nb-web x"])
    old = tmp_path / "scratch" / "p" / "nb"
    old.mkdir(parents=True)
    (old / "compose.yaml").write_text("name: cours-nb-ancienne-pile\nservices: {}\n")
    api = FakeApi(containers=["cours-nb-web", "cours-nb-ancienne-pile-db-1", "cours-voisin-web"],
                  networks=["cours-nb-ancienne-pile_default"])
    monkeypatch.setattr(notebook, "_docker_client", lambda: (FakeDocker(api), ""))
    course = notebook.start("p/nb")
    course._cleaned = True
    assert sorted(api.removed) == ["cours-nb-ancienne-pile-db-1", "cours-nb-ancienne-pile_default", "cours-nb-web"]
    assert "supprimés : 2 conteneurs, 1 réseau." in capsys.readouterr().out
    assert course.workdir == old and old.is_dir() and list(old.iterdir()) == []
