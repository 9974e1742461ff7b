"""Where a Compose service's environment comes from (``environment:`` or ``env_file``), and which values hold a credential.

Compose's own reading decides: the canonical form with env files left unresolved tells the keys a
service declares itself from those an env file brings (a password in compose.yaml is committed,
one in a git-ignored ``.env`` is not).
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.core import Fail
from autograder.engine.policy import inside
from autograder.engine.runner import Grading
from autograder.engine.docker_cli import run_cli
from autograder.probes.image_secrets import secret_name
from autograder.readers.gitignore import normalise


def environment_sources(g: Grading) -> dict[str, tuple[set, list]]:
    """Per service: the keys its own ``environment:`` declares, and its ``env_file`` paths (relative
    to the submission; ``None`` for one outside it). Compose's own reading: the canonical form with
    env files left unresolved (``--no-env-resolution``, which Compose 2.40 honours only together
    with ``--no-interpolate``). The values are those of the resolved canonical form: a key that
    ``environment:`` declares wins over the same key of an env file."""
    def read() -> dict[str, tuple[set, list]]:
        project = g.compose()
        project.config()  # invalid or refused: the resolved reading already said why
        proc = run_cli(["docker", "compose", "-p", project.name, "--project-directory", str(project.directory),
                        "-f", str(project.source_file()), "--profile", "*", "config", "--format", "json",
                        "--no-env-resolution", "--no-interpolate"], timeout=60, cwd=project.directory)
        if proc.returncode != 0:
            raise Fail("la configuration Compose lisible sans les fichiers env_file",
                       (proc.stderr or proc.stdout).strip()[-800:], "vérifiez avec `docker compose config`.")
        out = {}
        for name, svc in (json.loads(proc.stdout).get("services") or {}).items():
            files = []
            for entry in svc.get("env_file") or []:
                path = Path(str(entry.get("path") if isinstance(entry, dict) else entry))
                path = path if path.is_absolute() else project.directory / path
                files.append(normalise(project.directory, str(path)) if inside(path, project.directory) else None)
            out[name] = (set(svc.get("environment") or {}), files)
        return out
    return g.once("environment-sources", read)


def secret_value(key: str, value, secret: str) -> bool:
    """Whether ``key=value`` carries a credential: the grader's own secret, or a value (not a path,
    such as PGPASSFILE=/run/secrets/…, which names where the secret lives) under a secret's name."""
    value = "" if value is None else str(value)
    return bool((secret_name(key) and value and not value.startswith("/")) or (secret and secret in value))
