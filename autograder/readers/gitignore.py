"""What git would ignore in a submission: its ``.gitignore`` files asked to ``git check-ignore`` in a scratch repo.

The rules are git's own (negations, directory patterns, nested ``.gitignore`` files): only the
submission's ``.gitignore`` files are copied into a fresh repository, with no user or system
configuration, so neither the grader's machine nor the submission's own ``.git`` changes the answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from autograder.core import Skip


def normalise(workdir: Path, rel: str) -> str:
    """``rel`` (as written in a configuration: ``./secrets/../x``) relative to ``workdir``, normalised."""
    return os.path.relpath(os.path.normpath(workdir / rel), workdir)


def git_ignored(workdir: Path, paths: list[str]) -> dict[str, bool]:
    """Whether git, given the submission's ``.gitignore`` files only, would ignore each path."""
    git = shutil.which("git")
    if git is None:
        raise Skip("git n'est pas installé sur cette machine : impossible de vérifier .gitignore.")
    with tempfile.TemporaryDirectory(prefix="gitignore-") as tmp:
        root = Path(tmp) / "depot"
        for ignore in workdir.rglob(".gitignore"):
            if ".git" in ignore.relative_to(workdir).parts[:-1] or not ignore.is_file():
                continue
            dest = root / ignore.relative_to(workdir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ignore, dest)
        root.mkdir(exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}
        subprocess.run([git, "init", "-q", str(root)], env=env, check=True, timeout=30, capture_output=True)
        out = {}
        for rel in paths:
            proc = subprocess.run([git, "-C", str(root), "check-ignore", "-q", "--no-index", "--", rel],
                                  env=env, timeout=30, capture_output=True)
            out[rel] = proc.returncode == 0
        return out
