import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def this_checkout_first(monkeypatch):
    """nbgrader, its kernels and `python -m autograder` run in child processes: make them import
    this checkout's autograder, not the one the venv was installed from (another worktree)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
