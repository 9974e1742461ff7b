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
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    except CellExecutionError as exc:
        error = str(exc)[-2000:]
    except Exception as exc:  # noqa: BLE001 - reported, not raised: one result per notebook
        error = f"{type(exc).__name__}: {exc}"[-2000:]
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
