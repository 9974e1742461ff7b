"""Long operations show progress: ``[k/N] … 12.3 s`` lines (grading several labs, the benchmark)
and elapsed-time lines while `make images` builds, all readable in a CI log."""

import io
import os
import subprocess
import sys

from rich.console import Console

from autograder.report.progress import Steps
from cases import ROOT


def test_plain_steps_print_a_start_and_an_end_line_each():
    out = io.StringIO()
    with Steps(2, Console(file=out, width=80)) as steps:
        for label, summary in (("TP 01", "10/10"), ("TP 02", "3/10")):
            with steps.step(label) as step:
                step.summary = summary
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/2] TP 01 …" and lines[2] == "[2/2] TP 02 …"
    assert lines[1].startswith("[1/2] TP 01 10/10 ") and lines[1].endswith(" s")
    assert lines[3].startswith("[2/2] TP 02 3/10 ")
    assert "\x1b" not in out.getvalue()  # no control characters in a log


def test_a_terminal_gets_a_live_bar_and_the_finished_lines():
    out = io.StringIO()
    with Steps(1, Console(file=out, width=80, force_terminal=True)) as steps:
        with steps.step("TP 01") as step:
            step.summary = "10/10"
    assert "[1/1] TP 01 10/10" in out.getvalue()


def test_check_several_folders_shows_progress_and_keeps_exit_2_without_docker(tmp_path):
    folders = [tmp_path / "01-images-conteneurs", tmp_path / "02-volumes-persistance"]
    for f in folders:
        f.mkdir()
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", *map(str, folders), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "[1/2] TP 01-images-conteneurs" in proc.stderr and "[2/2] TP 02-volumes-persistance" in proc.stderr
    assert "Docker ne répond pas" in proc.stderr
    assert [line.count('"error"') for line in proc.stdout.splitlines()] == [1, 1]


def test_images_script_prints_elapsed_time_while_a_logged_step_runs(tmp_path):
    """run_logged of docker/images.sh, taken from the script itself: a heartbeat line per interval
    with the latest build step, the duration at the end, the log's tail on failure."""
    script = (ROOT / "docker" / "images.sh").read_text()
    start = script.index("say() {")
    functions = script[start:script.index("\n", script.index("err() {"))] + "\n"
    functions += script[script.index("# latest LOGFILE"):script.index("\n}\n", script.index("run_logged() {")) + 3]
    slow = ('echo "Step 1/2 : FROM debian"; timeout 2.5 tail -f /dev/null; '
            'echo "Step 2/2 : RUN apt-get update"; timeout 1.5 tail -f /dev/null; echo done')
    test = (functions + f'STEP="[2/4] "; VERBOSE=; PROGRESS_INTERVAL=1\n'
            f'run_logged "{tmp_path}/ok.log" bash -c {slow!r}\n'
            f'run_logged "{tmp_path}/bad.log" bash -c "echo broken; exit 3" || echo "failed $?"\n')
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", test], capture_output=True, text=True, timeout=60)
    out = proc.stdout.splitlines()
    assert "[2/4]   ... 1 s: Step 1/2 : FROM debian" in out
    assert any(line.startswith("[2/4]   ... ") and "Step 2/2 : RUN apt-get update" in line for line in out)
    assert any(line.startswith("[2/4]   ... done in ") for line in out)
    assert "failed 1" in out and "  | broken" in proc.stderr
