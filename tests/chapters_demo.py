"""Run chapter notebooks in demo mode (no Docker engine reachable) and report, as JSON, which
ones failed. Used by tests/test_chapters.py with the course's venv and with a fresh Binder venv:

    python tests/chapters_demo.py [NOTEBOOK_OR_FOLDER ...] > result.json

Each notebook runs in its own process (nbclient, the `python3` kernel of the interpreter running
this script) with DOCKER_HOST pointing at a socket that does not exist, so the notebooks' own
detection, not a flag, decides the mode.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
MISSING_RECORDING = "Aucun enregistrement pour cette cellule"  # autograder.notebook.MISSING_RECORDING
DEMO_BANNER = "mode démonstration"


def notebooks(args: list[str]) -> list[Path]:
    roots = [Path(a).resolve() for a in args] or [CHAPTERS]
    found = []
    for root in roots:
        found += [root] if root.suffix == ".ipynb" else sorted(
            p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and "_travail" not in p.parts)
    return found


def ipc_kernel_manager(kernel_dir: str):
    """A ``python3`` kernel manager whose kernel talks over Unix sockets in ``kernel_dir``, not TCP.

    A TCP port jupyter_client found free can be taken, before the kernel binds it, by anything
    binding a port beside it (other kernels: these workers, nbval, nbgrader; the grader's
    containers' published ports): the kernel then dies before replying to kernel_info. Seen once in
    CI, and 2 kernel starts in 60 here with ports bound and released beside them; none over IPC.
    """
    from jupyter_client.manager import KernelManager

    return KernelManager(kernel_name="python3", transport="ipc",
                         connection_file=str(Path(kernel_dir) / "kernel.json"))


def run_one(path: str) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    os.environ.pop("COURSE_NO_DOCKER", None)
    os.environ.pop("COURSE_RECORD", None)
    nb = nbformat.read(path, as_version=4)
    started = time.monotonic()
    error = ""
    # The kernel's own stderr is reported with any error.
    with tempfile.TemporaryDirectory(prefix="kernel-") as kernel_dir:
        km = ipc_kernel_manager(kernel_dir)
        log = Path(kernel_dir) / "stderr.log"
        with log.open("wb") as stderr:
            try:
                NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(Path(path).parent)}}
                               ).execute(stderr=stderr)
            except CellExecutionError as exc:
                error = str(exc)[-2000:]
            except Exception as exc:  # noqa: BLE001 - reported, not raised: one result per notebook
                error = f"{type(exc).__name__}: {exc}"[-2000:]
        if error:
            error += "\n-- kernel stderr --\n" + log.read_text(errors="replace")[-1500:]
    text = "\n".join(
        (o.get("text") or "") if isinstance(o.get("text"), str) else "".join(o.get("text") or [])
        for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    return {
        "notebook": str(Path(path).relative_to(ROOT)),
        "seconds": round(time.monotonic() - started, 1),
        "error": error,
        "demo_banner": DEMO_BANNER in text,
        "missing_recordings": text.count(MISSING_RECORDING),
    }


def main(argv: list[str]) -> int:
    paths = [str(p) for p in notebooks(argv)]
    workers = int(os.environ.get("CHAPTERS_DEMO_WORKERS", "3"))
    # The notebooks' scratch folders go to a folder of this run's own: nbval may be running the
    # same notebooks at the same time in chapters/<part>/_travail/ (autograder.notebook.SCRATCH_ENV).
    with tempfile.TemporaryDirectory(prefix="chapters-demo-") as scratch:
        os.environ["COURSE_SCRATCH_DIR"] = scratch
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run_one, paths))
    json.dump(results, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
