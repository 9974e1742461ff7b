"""Python dependency files read statically: pip requirement pins, conda environment pins, Poetry lock groups.

Pure parsing (no Docker): the labs say in French what is missing; these functions only say what
is pinned and what is not, and, for conda, which base images carry it and which Dockerfile steps
come before the environment's creation. Distribution names are
normalised as PEP 503 does (``Python_DateUtil`` -> ``python-dateutil``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

# ``name==version`` (or ``===``), with optional extras and environment marker.
REQ_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*===?\s*([A-Za-z0-9.+!_-]+)\s*(;.*)?$")
# A conda match spec pinned to a version: ``[channel::]name=version[=build]`` or ``name==version``.
CONDA_SPEC = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9][\w.-]*)\s*(==?)\s*([\w.*+!]+)(?:[= ]\S+)?$")
# Base images that ship conda (or mamba / micromamba), by repository name.
CONDA_BASES = re.compile(r"(^|/)(miniforge3?|mambaforge|miniconda3?|anaconda3?|micromamba|conda)(:|$|-)", re.I)
# A RUN that creates (or updates) an environment from an environment.yml file.
CONDA_CREATE = re.compile(r"\b(?:conda|mamba|micromamba)\s+(?:env\s+(?:create|update)|create|install)\b[^&;|]*"
                          r"(?:-f|--file)[ =]\S*environment\.ya?ml")


def norm(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_pins(text: str) -> tuple[dict[str, str], list[str]]:
    """``(name -> version`` of the ``name==version`` lines, the requirement lines not pinned that way)``
    of a requirements file. Comments, blank lines, options (``-r``, ``--index-url``) and the
    ``--hash`` continuation lines of a hash-checked file are neither."""
    pins: dict[str, str] = {}
    loose: list[str] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("--hash"):
            continue
        line = line.rstrip("\\").strip()
        m = REQ_LINE.match(line)
        if m:
            pins[norm(m.group(1))] = m.group(3)
        elif not line.startswith("-"):
            loose.append(line)
    return pins, loose


def dagster_mismatches(versions: dict[str, str], libraries: tuple[str, ...]) -> list[tuple[str, Optional[str], str]]:
    """``(library, pinned version or None when absent, the version that goes with the core)`` of each
    library that does not match the pinned ``dagster==1.N.x``: Dagster numbers its libraries
    0.(16+N).x beside core 1.N.x (dagster-webserver follows the core). ``[]`` without a core
    pinned as 1.N.x."""
    m = re.fullmatch(r"1\.(\d+)\.(\d+)", versions.get("dagster", ""))
    if not m:
        return []
    core, lib = versions["dagster"], f"0.{16 + int(m.group(1))}.{m.group(2)}"
    wanted = {name: core if name == "dagster-webserver" else lib for name in libraries}
    return [(name, versions.get(name), want) for name, want in wanted.items() if versions.get(name) != want]


def conda_pins(dependencies: list) -> tuple[dict[str, str], list[str]]:
    """``(name -> version, unpinned entries)`` of an environment.yml ``dependencies:`` list, its
    ``pip:`` sub-list read as requirement lines."""
    pins: dict[str, str] = {}
    loose: list[str] = []
    for dep in dependencies:
        if isinstance(dep, dict):  # the `pip:` sub-list
            for line in dep.get("pip") or []:
                m = REQ_LINE.match(str(line).strip())
                if m:
                    pins[norm(m.group(1))] = m.group(3)
                else:
                    loose.append(str(line))
            continue
        m = CONDA_SPEC.match(str(dep).strip())
        if m:
            pins[norm(m.group(1))] = m.group(3)
        else:
            loose.append(str(dep))
    return pins, loose


def poetry_groups(lock: dict, project: dict) -> tuple[dict[str, str], set[str]]:
    """``(main packages name -> version, dev-only package names)`` from a decoded poetry.lock and
    pyproject.toml: a locked package belongs to ``main`` by its ``groups`` (Poetry 1.5+) or its
    ``category`` (older locks); the dev names also come from the project's other groups, its old
    ``dev-dependencies`` and PEP 735 ``dependency-groups``."""
    main: dict[str, str] = {}
    dev: set[str] = set()
    for pkg in lock.get("package") or []:
        groups = pkg.get("groups") or [pkg.get("category", "main")]
        if "main" in groups:
            main[norm(pkg["name"])] = pkg["version"]
        else:
            dev.add(norm(pkg["name"]))
    poetry = project.get("tool", {}).get("poetry", {})
    for group in (poetry.get("group") or {}).values():
        dev.update(norm(n) for n in (group.get("dependencies") or {}))
    dev.update(norm(n) for n in (poetry.get("dev-dependencies") or {}))
    for specs in (project.get("dependency-groups") or {}).values():
        dev.update(norm(re.split(r"[\s<>=!~;\[(]", s, 1)[0]) for s in specs if isinstance(s, str))
    return main, dev - set(main)


def copies_before_env_create(dockerfile: Path) -> Optional[list[str]]:
    """The values of the ``COPY``/``ADD`` instructions that come before the first ``RUN`` creating a
    conda environment from environment.yml (:data:`CONDA_CREATE`), or ``None`` without such a RUN."""
    from dockerfile_parse import DockerfileParser  # noqa: PLC0415
    steps = [(s["instruction"], s["value"]) for s in DockerfileParser(path=str(dockerfile)).structure]
    create = next((i for i, (kind, value) in enumerate(steps) if kind == "RUN" and CONDA_CREATE.search(value)), None)
    return None if create is None else [v for kind, v in steps[:create] if kind in ("COPY", "ADD")]
