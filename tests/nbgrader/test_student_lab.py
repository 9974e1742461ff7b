"""`make lab` hides nbgrader's instructor extensions from students (jupyter/etudiant/), and
`INSTRUCTOR=1` keeps them: checked on a real JupyterLab server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cases import free_port

ROOT = Path(__file__).resolve().parents[2]
STUDENT_CONFIG = ROOT / "jupyter" / "etudiant"
TOKEN = "test-etudiant"


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0  # not listening yet


def serve_and_probe(tmp_path: Path, student: bool) -> tuple[int, dict]:
    port = free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.pop("JUPYTER_CONFIG_PATH", None)
    if student:
        env["JUPYTER_CONFIG_PATH"] = str(STUDENT_CONFIG)
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--notebook-dir={tmp_path}",
           "--allow-root"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while status(f"{base}/api/status?token={TOKEN}") != 200:
            assert proc.poll() is None and time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.3)
        formgrader = status(f"{base}/formgrader?token={TOKEN}")
        with urllib.request.urlopen(f"{base}/lab?token={TOKEN}", timeout=10) as resp:
            page = resp.read().decode()
        start = page.index('id="jupyter-config-data"')
        config = json.loads(page[page.index(">", start) + 1:page.index("</script>", start)])
        return formgrader, config
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.parametrize("student", [True, False], ids=["make-lab", "INSTRUCTOR=1"])
def test_instructor_extensions_only_for_instructors(tmp_path, student):
    formgrader, config = serve_and_probe(tmp_path, student)
    disabled = set(config.get("disabledExtensions", []))
    if student:
        assert formgrader == 404
        assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= disabled
    else:
        assert formgrader in (200, 302)
        assert "@jupyter/nbgrader:formgrader" not in disabled
