"""Python dependency files read statically (autograder.readers.requirements) and the listing probe's parser."""

from __future__ import annotations

import pytest

from autograder.probes.python_env import parse_listing, pip_cache_files
from autograder.readers import requirements


def test_pip_pins_reads_exact_pins_and_names_the_loose_lines():
    text = ("# comment\n-r base.txt\n--index-url https://example.org/simple\n"
            "Python_DateUtil==2.9.0.post0  # the dates\ntabulate===0.9.0\n"
            "requests[socks]==2.32.3 ; python_version >= '3.9'\nnumpy>=2\npandas\n")
    pins, loose = requirements.pip_pins(text)
    assert pins == {"python-dateutil": "2.9.0.post0", "tabulate": "0.9.0", "requests": "2.32.3"}
    assert loose == ["numpy>=2", "pandas"]


def test_pip_pins_accepts_a_hash_checked_file():
    text = "tabulate==0.9.0 \\\n    --hash=sha256:0123 \\\n    --hash=sha256:4567\n"
    assert requirements.pip_pins(text) == ({"tabulate": "0.9.0"}, [])


def test_conda_pins_reads_conda_specs_and_the_pip_sub_list():
    deps = ["python=3.13", "conda-forge::tabulate=0.9.0=pyhd8ed1ab_0", "numpy", {"pip": ["rich==13.9.4", "httpx"]}]
    pins, loose = requirements.conda_pins(deps)
    assert pins == {"python": "3.13", "tabulate": "0.9.0", "rich": "13.9.4"}
    assert loose == ["numpy", "httpx"]


def test_poetry_groups_splits_main_and_dev_from_lock_and_project():
    lock = {"package": [{"name": "Tabulate", "version": "0.9.0", "groups": ["main"]},
                        {"name": "pytest", "version": "8.3.4", "groups": ["dev"]},
                        {"name": "old_style", "version": "1.0", "category": "main"}]}
    project = {"tool": {"poetry": {"group": {"dev": {"dependencies": {"ruff": "*", "tabulate": "*"}}},
                                   "dev-dependencies": {"black": "*"}}},
               "dependency-groups": {"test": ["coverage[toml]>=7"]}}
    main, dev = requirements.poetry_groups(lock, project)
    assert main == {"tabulate": "0.9.0", "old-style": "1.0"}
    assert dev == {"pytest", "ruff", "black", "coverage"}


@pytest.mark.parametrize("image, conda", [("condaforge/miniforge3:24.11.3-2", True), ("mambaorg/micromamba:2", True),
                                          ("continuumio/miniconda3", True), ("python:3.13-slim", False)])
def test_conda_bases(image, conda):
    assert bool(requirements.CONDA_BASES.search(image)) is conda


def test_copies_before_env_create(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM condaforge/miniforge3:24.11.3-2\nCOPY environment.yml /tmp/\nCOPY app/ /app/\n"
                          "RUN conda env create --file /tmp/environment.yml && conda clean --all --yes\n"
                          "COPY . /srv\n")
    assert requirements.copies_before_env_create(dockerfile) == ["environment.yml /tmp/", "app/ /app/"]
    dockerfile.write_text("FROM condaforge/miniforge3:24.11.3-2\nRUN conda install tabulate\n")
    assert requirements.copies_before_env_create(dockerfile) is None


def test_parse_listing_reads_the_last_line_and_refuses_anything_else():
    out = 'a warning\n{"dists": {"tabulate": "0.9.0"}, "poetry": null}\n'
    assert parse_listing(out) == {"dists": {"tabulate": "0.9.0"}, "poetry": None}
    for bad in ("", "Traceback (most recent call last):", '{"poetry": null}', "[1, 2]"):
        with pytest.raises(ValueError):
            parse_listing(bad)


def test_pip_cache_files_ignores_the_empty_mount_point():
    assert pip_cache_files("root/.cache/pip/http/ab/cd", None)
    assert not pip_cache_files("root/.cache/pip", None)
    assert not pip_cache_files("./root/.cache/pip/", None)


def test_dagster_mismatches_follow_the_version_family():
    libs = ("dagster-webserver", "dagster-postgres", "dagster-dbt")
    good = {"dagster": "1.13.27", "dagster-webserver": "1.13.27", "dagster-postgres": "0.29.27", "dagster-dbt": "0.29.27"}
    assert requirements.dagster_mismatches(good, libs) == []
    bad = {**good, "dagster-webserver": "0.29.27", "dagster-dbt": "0.28.27"}
    del bad["dagster-postgres"]
    assert requirements.dagster_mismatches(bad, libs) == [("dagster-webserver", "0.29.27", "1.13.27"),
                                                          ("dagster-postgres", None, "0.29.27"),
                                                          ("dagster-dbt", "0.28.27", "0.29.27")]
    assert requirements.dagster_mismatches({"dagster": "2.0.0"}, libs) == []
