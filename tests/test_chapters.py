"""The chapter notebooks: layout and content rules, recordings in step with the cells, demo mode
(no Docker engine) in the course's venv and in a fresh venv built from binder/ like Binder does.

Running them with Docker is nbval's job (`make test` collects chapters/*.ipynb with --nbval-lax).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

from autograder.notebook import RECORDINGS, recording_keys

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
BINDER = ROOT / "binder"
PARTS = ("1-introduction", "2-pipelines", "3-industrialisation")
DEMO = ROOT / "tests" / "chapters_demo.py"


def chapter_notebooks() -> list[Path]:
    return sorted(p for part in PARTS for p in (CHAPTERS / part).glob("*.ipynb"))


NOTEBOOKS = chapter_notebooks()
IDS = [f"{p.parent.name}/{p.stem}" for p in NOTEBOOKS]


def source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def shell_keys(nb) -> set[str]:
    """The text of each %%shell cell, as autograder.notebook keys its recordings."""
    keys = set()
    for cell in nb.cells:
        src = source(cell)
        if cell.cell_type == "code" and src.startswith("%%shell"):
            keys.add(src.split("\n", 1)[1].strip() if "\n" in src else "")
    return keys


def test_three_parts_each_with_a_readme_listing_its_notebooks():
    top = (CHAPTERS / "README.md").read_text(encoding="utf-8")
    for part in PARTS:
        readme = CHAPTERS / part / "README.md"
        assert readme.is_file(), f"{part}/README.md missing"
        assert f"{part}/" in top, f"chapters/README.md does not link {part}"
        text = readme.read_text(encoding="utf-8")
        notebooks = sorted((CHAPTERS / part).glob("*.ipynb"))
        assert len(notebooks) >= 5, f"{part}: {len(notebooks)} notebooks"
        for nb in notebooks:
            assert f"({nb.name})" in text, f"{part}/README.md does not link {nb.name}"
        for link in re.findall(r"\]\((\.\./\.\./labs/[^)#]+)\)", text):
            assert (CHAPTERS / part / link).exists(), f"{part}/README.md: broken lab link {link}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_shape(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    markdown = "\n".join(source(c) for c in nb.cells if c.cell_type == "markdown")
    nb_id = f"{path.parent.name}/{path.stem}"
    assert f'start("{nb_id}")' in source(code[0]), "the first code cell must call start() with this notebook's id"
    assert source(code[-1]).strip() == "cours.cleanup()", "the last code cell must be cours.cleanup()"
    assert len(nb.cells) <= 45, f"{len(nb.cells)} cells: one idea per notebook, keep it short"
    assert source(nb.cells[0]).startswith("# "), "the notebook starts with its title"
    assert "## Auto-évaluation" in markdown and markdown.count("<details>") >= 3, "a self-check quiz (≥ 3 answers)"
    labs = re.findall(r"\]\((\.\./\.\./labs/[^)#]+)\)", markdown)
    assert labs, "a pointer to its lab"
    for link in labs:
        assert (path.parent / link).exists(), f"broken lab link {link}"
    for cell in code:
        src = source(cell)
        assert not re.search(r"^\s*!\s*docker", src, re.M), "Docker commands go through %%shell (demo mode)"
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"committed output holds an error: {src[:80]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_recordings_match_the_cells(path: Path):
    """Demo mode replays a recording keyed by each %%shell cell's text: none missing, none stale."""
    nb = nbformat.read(path, as_version=4)
    nb_id = f"{path.parent.name}/{path.stem}"
    keys = shell_keys(nb)
    recorded = recording_keys(nb_id)
    assert keys - recorded == set(), "cells without a recording: run `make chapters-record NB=...`"
    assert recorded - keys == set(), "stale recordings: run `make chapters-record NB=...`"
    # Values from cours.measure(): the demo run checks them (a measure may be conditional, e.g.
    # nvidia-smi only where the NVIDIA runtime exists).


def test_no_orphan_recordings():
    orphans = [p for p in RECORDINGS.rglob("*.json")
               if not (CHAPTERS / p.relative_to(RECORDINGS).with_suffix(".ipynb")).is_file()]
    assert orphans == []


# Every topic of the slides appears in the chapters (words as a French notebook writes them).
TOPICS = {
    "1-introduction": ["machine virtuelle", "Podman", "LXC", "Kubernetes", "pod", "Deployment", "Service",
                       "cycle de vie", "volume", "bridge", "host", "overlay", "registry:2", "Docker Hub",
                       "Dockerfile", "cache", "multi-étapes", "scan", "signature", "root", "latest", "tag",
                       "prune"],
    "2-pipelines": ["pip", "Poetry", "conda", "docker-entrypoint-initdb.d", "psycopg2", "variables d'environnement",
                    "compose", "Dagster", "dbt", "pg_dump", "restaur", "logs"],
    "3-industrialisation": ["GitLab", "stages", "docker:", "dind", "runner", "test", "secret", "--memory", "--cpus",
                            "GPU", "nvidia", "cloud", "read-only", "cap-drop"],
}
OUTDATED = ["python:3.9", "version: '3'", "docker-compose", "dagster pipeline execute", "postgres:latest"]


def all_markdown(part: str | None = None) -> str:
    paths = [p for p in NOTEBOOKS if part is None or p.parent.name == part]
    return "\n".join(source(c) for p in paths for c in nbformat.read(p, as_version=4).cells)


@pytest.mark.parametrize("part", PARTS)
def test_every_slide_topic_is_covered(part: str):
    text = all_markdown(part).lower()
    missing = [t for t in TOPICS[part] if t.lower() not in text]
    assert missing == []


def test_outdated_slide_forms_are_flagged():
    text = all_markdown()
    assert "Les supports datent" in text
    missing = [form for form in OUTDATED if form not in text]
    assert missing == [], f"the chapters never say what replaced {missing}"


# -- demo mode -------------------------------------------------------------------------------------
def run_demo(python: str, env: dict | None = None) -> list[dict]:
    proc = subprocess.run([python, str(DEMO)], capture_output=True, text=True, timeout=900, cwd=ROOT,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def assert_all_ran_in_demo_mode(results: list[dict]) -> None:
    assert {r["notebook"] for r in results} == {str(p.relative_to(ROOT)) for p in NOTEBOOKS}
    bad = [r for r in results if r["error"] or not r["demo_banner"] or r["missing_recordings"]]
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)


def test_every_chapter_runs_without_docker():
    """Docker unreachable (DOCKER_HOST at a missing socket): every notebook runs to its end."""
    assert_all_ran_in_demo_mode(run_demo(sys.executable))


# -- Binder ----------------------------------------------------------------------------------------
def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" in line, f"{path.name}: unpinned requirement {line!r}"
            name, version = line.split("==", 1)
            found[name.lower()] = version
    return found


def test_binder_configuration():
    binder, course = pins(BINDER / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert {"jupyterlab", "matplotlib", "docker"} <= set(binder)
    assert {n: v for n, v in binder.items() if course.get(n) != v} == {}, "Binder pins differ from requirements.txt"
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.(1[1-9])", runtime), "nbgrader and the course need Python >= 3.11"
    start = (BINDER / "start").read_text()
    assert start.rstrip().endswith('exec "$@"') and os.access(BINDER / "start", os.X_OK)
    post = (BINDER / "postBuild").read_text()
    assert "set -e" in post and os.access(BINDER / "postBuild", os.X_OK)


@pytest.mark.network
def test_binder_requirements_install_and_run_the_chapters(tmp_path: Path):
    """What repo2docker does, in a fresh venv: install binder/requirements.txt, run postBuild, then
    every chapter runs in demo mode with that venv's kernel."""
    env_dir = tmp_path / "binder-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    env = dict(os.environ, PATH=f"{env_dir / 'bin'}:{os.environ['PATH']}", VIRTUAL_ENV=str(env_dir),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    install = subprocess.run([py, "-m", "pip", "install", "--quiet", "-r", str(BINDER / "requirements.txt")],
                             capture_output=True, text=True, timeout=900, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    post = subprocess.run(["bash", str(BINDER / "postBuild")], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env=env)
    assert post.returncode == 0, post.stderr[-3000:]
    assert_all_ran_in_demo_mode(run_demo(py, env=dict(env, BINDER_LAUNCH_HOST="https://mybinder.org/")))
