"""What a Python image holds and does, asked in a container run to its end with the network off.

:func:`run_to_end` runs an image once (no network), waits for it to exit under a deadline and
returns its exit code and output, the container removed in every case; one still running at the
deadline raises :class:`StillRunning` with its PID 1 (for the advice). Run there,
:data:`LIST_SCRIPT` lists the installed distributions (PEP 503 names) and where ``poetry`` is;
:func:`parse_listing` reads its answer.
"""

from __future__ import annotations

import json
import secrets
from typing import Optional

from autograder.engine.sandbox import Sandbox
from autograder.probes.containers import container_gone
from autograder.probes.diagnose import pid1
from autograder.probes.waits import Timeout, wait_until

# Prints {normalised name: version} of every distribution, and where `poetry` is on PATH.
LIST_SCRIPT = ("import importlib.metadata as m, json, re, shutil; print(json.dumps({'dists': "
               "{re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version for d in m.distributions() "
               "if d.metadata['Name']}, 'poetry': shutil.which('poetry')}))")
# Installed with every environment (pip itself, venv's seeds): not an application's dependencies.
PACKAGING_TOOLS = {"pip", "setuptools", "wheel"}


class StillRunning(Exception):
    """The container was still running at the deadline (it has been removed); ``argv`` is its PID 1."""

    def __init__(self, argv: Optional[list[str]]):
        super().__init__("still running")
        self.argv = argv


def run_to_end(sandbox: Sandbox, ref: str, suffix: str, timeout: float, **kwargs) -> tuple[int, str]:
    """Run ``ref`` without network until it exits: ``(exit code, stdout + stderr)``; the container
    is removed. ``kwargs`` go to :meth:`Sandbox.run` (command, entrypoint, volumes…)."""
    c = sandbox.run(ref, suffix=f"{suffix}-{secrets.token_hex(2)}", network_mode="none", **kwargs)
    try:
        wait_until(lambda: container_gone(c), timeout)
    except Timeout:
        argv = pid1(sandbox, c)
        c.remove(force=True, v=True)
        raise StillRunning(argv) from None
    c.reload()
    code = c.attrs["State"].get("ExitCode", -1)
    out = c.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    c.remove(force=True, v=True)
    return code, out


def parse_listing(out: str) -> dict:
    """:data:`LIST_SCRIPT`'s answer (its last line): ``{'dists': {name: version}, 'poetry': path}``;
    ``ValueError`` when the output is not that."""
    lines = out.strip().splitlines()
    if not lines:
        raise ValueError("no output")
    found = json.loads(lines[-1])
    if not isinstance(found, dict) or not isinstance(found.get("dists"), dict):
        raise ValueError("not a listing")
    return found


def pip_cache_files(path: str, _content) -> bool:
    """Something inside a pip cache folder; the folder itself may exist empty (the mount point that
    BuildKit leaves for `RUN --mount=type=cache,target=/root/.cache/pip`)."""
    return "/.cache/pip/" in "/" + path.rstrip("/").lstrip("./")
