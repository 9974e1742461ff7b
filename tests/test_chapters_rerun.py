"""Chapter notebooks run again from the top after an interruption (issue 16, item 7).

`start()` (each notebook's first cell) removes what an interrupted earlier run of that notebook
left: the `cours…` objects named after a name that the notebook's code cells mention. Two checks:

* statically, over every chapter notebook: each object a cell creates (`--name`, `docker volume` /
  `network create`, `-t`, `docker tag`, `-v NAME:`, a Compose project) has a literal `cours…` name
  that this mention scan finds, and no notebook's names cover another notebook's objects (they run
  side by side in the tests);
* with Docker: a notebook killed right after it started its named container, then run again from
  the top, succeeds and leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder.notebook import (IMAGE_RE, NAME_RE, NOTEBOOKS_ENV, SCRATCH_ENV, Course, _split_commands,
                                 notebook_mentions)

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(p for p in CHAPTERS.glob("[0-9]-*/*.ipynb"))
IDS = [f"{p.parent.name}/{p.stem}" for p in NOTEBOOKS]
REGISTRY = "127.0.0.1:5000"  # what `$REGISTRE` stands for in the cells (a local registry's address)

# (kind, pattern) over one logical shell command; group 1 is the created object's name.
CREATES = [
    ("containers", re.compile(r"^\s*docker (?:container )?(?:run|create)\b.*?\s--name[= ](\S+)", re.S)),
    ("volumes", re.compile(r"^\s*docker volume create (?:--?\S+ )*(\S+)")),
    ("networks", re.compile(r"^\s*docker network create (?:--?\S+ (?:\S+ )?)*?(\S+)\s*$")),
    ("volumes", re.compile(r"^\s*docker (?:container )?(?:run|create)\b.*?\s(?:-v|--volume)[= ]([A-Za-z0-9][\w.-]*):",
                           re.S)),
    ("images", re.compile(r"^\s*docker (?:buildx )?build\b.*?\s(?:-t|--tag)[= ](\S+)", re.S)),
    ("images", re.compile(r"^\s*docker (?:image )?tag \S+ (\S+)")),
    ("projects", re.compile(r"^\s*docker compose\b.*?\s(?:-p|--project-name)[= ](\S+)", re.S)),
]


# In Python cells (measures that build or run through subprocess): a string literal that is a name,
# f-strings included (`f"cours/deps-{outil}:1.0"`: each placeholder stands for some text).
PY_NAME = re.compile(r"""(?<![\w])f?(["'])(cours[-/{][^"'\s]*)\1""")


def source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def image_repository(ref: str) -> str:
    """`127.0.0.1:5000/cours-x/app:1.0` -> `127.0.0.1:5000/cours-x/app` (a port is not a tag)."""
    return ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref


def compose_objects(text: str) -> list[tuple[str, str]]:
    """What a Compose file written by a cell creates under a name of its own: its project (which
    prefixes its containers, networks, volumes and built images), `container_name`s, built `image`s,
    and volumes or networks given an explicit `name`. A project without `name:` would be named after
    the scratch folder: reported as a name that is not `cours…`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        return []  # not a Compose file (.gitlab-ci.yml, dbt_project.yml, environment.yml…)
    found = [("projects", str(data.get("name") or "<projet sans name:>"))]
    for service in data["services"].values():
        service = service or {}
        if service.get("container_name"):
            found.append(("containers", str(service["container_name"])))
        if service.get("build") and service.get("image"):
            found.append(("images", image_repository(str(service["image"]))))
    for kind in ("volumes", "networks"):
        for item in (data.get(kind) or {}).values():
            if isinstance(item, dict) and item.get("name"):
                found.append((kind, str(item["name"])))
    return found


def created_objects(cells: list[str]) -> list[tuple[str, str]]:
    """(kind, name) of every object the given code cells create, names as the engine would show them."""
    found = []
    for src in cells:
        head, _, body = src.partition("\n")
        if head.startswith("%%writefile") and head.split()[-1].endswith((".yaml", ".yml")):
            found += compose_objects(body)
        if not head.startswith("%%"):
            found += [("python", image_repository(re.sub(r"\{[^}]*\}", "x", m.group(2))))
                      for m in PY_NAME.finditer(src)]
        if not head.startswith("%%shell"):
            continue
        for command in _split_commands(body):
            for kind, pattern in CREATES:
                for match in pattern.finditer(command):
                    name = match.group(1).strip("'\"")
                    name = re.sub(r"^\$\{?REGISTRE\}?/", REGISTRY + "/", name)
                    found.append((kind, image_repository(name) if kind == "images" else name))
    return found


def uncovered(cells: list[str], mentions: set[str]) -> list[str]:
    """Created objects that start() would not remove: not a literal `cours…` name, or not mentioned."""
    bad = []
    for kind, name in created_objects(cells):
        pattern = IMAGE_RE.search if kind in ("images", "python") else NAME_RE.match
        if "$" in name or not pattern(name) or not Course._owned(name, mentions):
            bad.append(f"{kind}: {name}")
    return bad


def code_cells(path: Path) -> list[str]:
    return [source(c) for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_what_a_notebook_creates_its_first_cell_would_remove(path: Path):
    nb_id = f"{path.parent.name}/{path.stem}"
    assert uncovered(code_cells(path), notebook_mentions(nb_id)) == []


def test_the_scan_sees_what_notebooks_create():
    """Not vacuous: the known objects of chapter 1/03 are found, and many across all chapters."""
    cells = code_cells(CHAPTERS / "1-introduction" / "03-images-et-conteneurs.ipynb")
    assert {o for o in created_objects(cells) if o[0] != "python"} == {("containers", "cours-cycle-neuf"), ("containers", "cours-cycle-app"),
                                           ("containers", "cours-cycle-shell"), ("images", "cours/cycle-app")}
    everything = [o for p in NOTEBOOKS for o in created_objects(code_cells(p))]
    kinds = {kind for kind, _ in everything}
    assert len(everything) >= 40 and kinds == {"containers", "volumes", "networks", "images", "projects", "python"}
    deps = created_objects(code_cells(CHAPTERS / "2-pipelines" / "01-dependances-python.ipynb"))
    assert {("python", "cours/deps-x"), ("python", "cours/deps-export")} <= set(deps)


def test_the_scan_reports_names_start_would_miss():
    mentions = {"cours-a-web"}
    cells = ["%%shell\ndocker run -d --name web python:3.13-slim",
             '%%shell\nNOM=cours-a-db\ndocker network create "$NOM"',
             "%%shell\ndocker run -d --name cours-a-web -v donnees:/data x",
             "%%shell\ndocker build -q \\\n  -t cours/a-app:1.0 .",
             "%%writefile compose.yaml\nservices:\n  web:\n    image: python:3.13-slim\n",
             'for n in (1, 2):\n    subprocess.run(["docker", "run", "--name", f"cours{n}", "x"], timeout=60)']
    assert uncovered(cells, mentions) == ["containers: web", "networks: $NOM", "volumes: donnees",
                                          "images: cours/a-app", "projects: <projet sans name:>", "python: coursx"]
    assert uncovered(cells[2:3], mentions | {"donnees"}) == ["volumes: donnees"]  # named, but not cours…


def test_no_notebook_removes_another_notebooks_objects():
    """Notebooks run side by side (nbval beside the tests): one's names never cover another's."""
    mentions = {nb_id: notebook_mentions(nb_id) for nb_id in IDS}
    clashes = [f"{a} couvre {name} de {b}"
               for a in IDS for b in IDS if a != b
               for _, name in created_objects(code_cells(CHAPTERS / f"{b}.ipynb"))
               if Course._owned(name, mentions[a])]
    assert clashes == []


# -- with Docker: interrupt, then run again from the top ----------------------------------------------
NB_ID = "1-introduction/03-images-et-conteneurs"
# nbval may run the real notebook at the same time: this copy's names are its own.
RENAMES = (("cours-cycle", "cours-rerun-cycle"), ("cours/cycle", "cours/rerun-cycle"))


def renamed_copy(root: Path):
    nb = nbformat.read(CHAPTERS / f"{NB_ID}.ipynb", as_version=4)
    for cell in nb.cells:
        for old, new in RENAMES:
            cell.source = source(cell).replace(old, new)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    path = root / f"{NB_ID}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return nb


def owned_now(client, mentions: set[str]) -> list[str]:
    names = [c.name for c in client.containers.list(all=True, ignore_removed=True)]
    names += [n.name for n in client.networks.list()] + [v.name for v in client.volumes.list()]
    names += [image_repository(t) for i in client.api.images() for t in (i.get("RepoTags") or ())]
    return sorted(n for n in names if (NAME_RE.match(n) or IMAGE_RE.search(n)) and Course._owned(n, mentions))


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.docker
def test_an_interrupted_notebook_runs_again_from_the_top(tmp_path, monkeypatch, docker_client):
    from chapters_demo import ipc_kernel_manager
    from nbclient import NotebookClient

    monkeypatch.setenv(NOTEBOOKS_ENV, str(tmp_path / "notebooks"))
    monkeypatch.setenv(SCRATCH_ENV, str(tmp_path / "travail"))
    for name in ("COURSE_RECORD", "COURSE_NO_DOCKER"):
        monkeypatch.delenv(name, raising=False)
    nb = renamed_copy(tmp_path / "notebooks")
    mentions = notebook_mentions(NB_ID)
    real = {n for p in NOTEBOOKS for _, n in created_objects(code_cells(p))}
    assert "cours-rerun-cycle-app" in mentions and not any(Course._owned(n, mentions) for n in real)
    resources = {"metadata": {"path": str(tmp_path)}}

    def kernel(name: str):
        (tmp_path / name).mkdir()
        return ipc_kernel_manager(str(tmp_path / name))

    try:
        # 1. Run up to the cell that starts the named container, then kill the kernel: no cleanup.
        stop = next(i for i, c in enumerate(nb.cells) if "docker run -d --name cours-rerun-cycle-app" in source(c))
        first = NotebookClient(nb, km=kernel("first"), timeout=300, resources=resources)
        with first.setup_kernel():
            for index, cell in enumerate(nb.cells[:stop + 1]):
                first.execute_cell(cell, index)
            os.kill(first.km.provisioner.pid, signal.SIGKILL)
            first.km.provisioner.process.wait(timeout=30)
        assert docker_client.containers.get("cours-rerun-cycle-app").status == "running"

        # 2. The whole notebook again, from the top: its first cell removes the leftovers.
        again = nbformat.read(tmp_path / "notebooks" / f"{NB_ID}.ipynb", as_version=4)
        NotebookClient(again, km=kernel("again"), timeout=300, resources=resources).execute()
        code = [c for c in again.cells if c.cell_type == "code"]
        assert "Restes d'une exécution interrompue supprimés : 1 conteneur, 1 image." in stream_text(code[0])
        assert "Nettoyage :" in stream_text(code[-1])
        assert owned_now(docker_client, mentions) == []
    finally:
        course = Course(NB_ID, docker_client)
        course._cleaned = True
        course.sweep()
