"""The file-based secrets a compose file declares, read as written (before Compose runs).

Compose refuses a file whose secret file is missing, so a grader that must write its own secret
values first reads the top-level ``secrets:`` with YAML: the ``file:`` paths, as written.
"""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def declared_secret_files(workdir: Path) -> list[str]:
    """``file:`` paths of the top-level ``secrets:`` of the student's compose file, as written
    (read with YAML before Compose runs: Compose refuses a file whose secret file is missing)."""
    for name in COMPOSE_FILES:
        path = workdir / name
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text(errors="replace")) or {}
            except yaml.YAMLError:
                return []
            top = data.get("secrets") if isinstance(data, dict) else None
            return [str(s["file"]) for s in (top or {}).values()
                    if isinstance(s, dict) and isinstance(s.get("file"), str) and "$" not in s["file"]]
    return []
