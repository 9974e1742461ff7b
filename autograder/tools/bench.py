"""``make bench``: how far is each lab's grading from the Docker work it cannot avoid?

For each lab the reference solution is graded three times (``python -m autograder.tools.bench``):

1. a warm-up grading, *recorded*: every Docker Engine API request (docker SDK), every docker CLI
   command (``run_cli``: Compose, BuildKit builds) and every HTTP probe to a published port is
   kept, with a copy of the grading's work folder before each build or CLI command;
2. a timed grading (warm images and build cache): the **grading** time;
3. the **floor**: the essential operations of the recording replayed directly, without the
   grader's logic, under a new job label, and timed.

The floor is derived from the recording, never written by hand (:func:`derive_floor`):
bookkeeping requests are dropped (pings, version, lists, the disk guard's ``info``, ``compose
config``), an inspection is kept once between two operations that change something, an exec's
three requests (create, start, inspect) are one operation, and a run of identical operations
(a readiness poll) is one operation replayed until it gives the result the grading finally saw
(exit code, HTTP status, return code). What the floor cannot replay — a container that talks to
a service of the grader (the Docker API proxy of labs 04 and 08), an object the replay never
created — counts with its duration *as recorded* ("in situ"), so the floor is never empty of it.

Then the throughput: N copies of one submission graded by ``python -m autograder check DIR…
--jobs J --json`` (the instructors' path: ``make grade`` grades ahead the same way) for each J of
``--jobs`` (1, 2 and 3 by default), in gradings per hour.

Last, the class-size table (:func:`capacity`): per lab, gradings per hour on this machine and the
time to grade 30 and 150 hand-ins, at one job and at the best measured job count (the speed-up
measured on the copied lab applied to the others: an estimate, said so in the table's caption).

The results: tables on the terminal, ``build/bench/bench.json`` (with the machine: cores, Docker
versions, date), and the floor derived for each lab in ``build/bench/floor-NN.txt``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional
import docker
import docker.api.client
from rich import box
from rich.console import Console
from rich.table import Table

from autograder import registry
from autograder.core import GraderUnavailable
from autograder.report.progress import Steps
from autograder.engine.runner import grade
from autograder.engine.docker_api import docker_client
from autograder.engine.docker_cli import run_cli
from autograder.tools.bench_floor import Replayer, derive_floor
from autograder.tools.bench_record import Recorder


OUT_DIR = registry.REPO_ROOT / "build" / "bench"


# -- the benchmark ------------------------------------------------------------------------------
@dataclass
class LabBench:
    lab: str
    grading_s: float
    floor_s: float
    replayed_s: float
    in_situ_s: float
    replayed_ops: int
    in_situ_ops: int
    score: float
    attainable: float

    @property
    def ratio(self) -> Optional[float]:
        return ratio(self.grading_s, self.floor_s)

    def to_json(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class ParallelBench:
    lab: str
    copies: int
    wall_s: dict[int, float]       # jobs → wall time for the N copies
    all_full_marks: dict[int, bool]

    def speedup(self, jobs: int = 2) -> Optional[float]:
        """Throughput with ``jobs`` concurrent gradings over throughput with one."""
        return ratio(self.wall_s.get(1, 0.0), self.wall_s.get(jobs, 0.0)) if jobs in self.wall_s else None

    def per_hour(self, jobs: int) -> Optional[float]:
        wall = self.wall_s.get(jobs, 0.0)
        return round(self.copies * 3600 / wall, 1) if wall > 0 else None

    def best(self) -> int:
        """The job count with the highest throughput (1 when nothing faster was measured)."""
        return min(self.wall_s, key=lambda j: (self.wall_s[j], j)) if self.wall_s else 1

    def to_json(self) -> dict:
        return {"lab": self.lab, "copies": self.copies,
                "runs": [{"jobs": j, "wall_s": s, "per_grading_s": round(s / self.copies, 2),
                          "per_hour": self.per_hour(j), "speedup": self.speedup(j),
                          "all_full_marks": self.all_full_marks[j]} for j, s in sorted(self.wall_s.items())],
                "best_jobs": self.best()}


CLASS_SIZES = (30, 150)


def capacity(labs: list[LabBench], parallel: Optional[ParallelBench]) -> list[dict]:
    """Per lab: gradings per hour at one job and at the best job count, and the time (minutes) to
    grade each class size of :data:`CLASS_SIZES`. The speed-up is the one measured on the copied
    lab (1 when no throughput run)."""
    best = parallel.best() if parallel else 1
    gain = (parallel.speedup(best) or 1.0) if parallel and best != 1 else 1.0
    rows = []
    for b in labs:
        if b.grading_s <= 0:
            continue
        per_hour = 3600 / b.grading_s
        rows.append({"lab": b.lab, "grading_s": b.grading_s, "per_hour_1": round(per_hour, 1),
                     "jobs": best, "per_hour_best": round(per_hour * gain, 1),
                     **{f"minutes_{n}": round(n * b.grading_s / gain / 60, 1) for n in CLASS_SIZES}})
    return rows


def ratio(a: float, b: float) -> Optional[float]:
    return round(a / b, 2) if b > 0 else None


def bench_lab(lab_id: str, workspace: Path) -> tuple[LabBench, list[str]]:
    """Warm-up grading (recorded), timed grading, floor replayed; the floor's listing."""
    lab = registry.get_lab(lab_id)
    folder = registry.lab_dirs("solutions")[lab.id]
    workspace.mkdir(parents=True, exist_ok=True)
    with Recorder(workspace) as recorder:
        grade(lab, folder, sandbox_factory=recorder.sandbox_factory)
    started = time.monotonic()
    report = grade(lab, folder)
    grading_s = time.monotonic() - started
    ops = derive_floor(recorder.events)
    floor = Replayer(recorder.events, recorder.jobs[-1], workspace).run(ops)
    result = LabBench(lab.id, round(grading_s, 2), round(floor.seconds, 2), round(floor.replayed_s, 2),
                      round(floor.in_situ_s, 2), floor.replayed, floor.in_situ, report.score, report.attainable)
    return result, floor.lines


def grade_copies(folder: Path, copies: int, jobs: int, workspace: Path) -> tuple[float, bool]:
    """Wall time for ``python -m autograder check`` to grade ``copies`` copies of ``folder`` with
    ``--jobs jobs``; whether every copy got full marks."""
    dirs = []
    for k in range(copies):
        dest = workspace / f"copy-{jobs}-{k}" / folder.name
        shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        dirs.append(str(dest))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", *dirs, "--jobs", str(jobs), "--json"],
                          capture_output=True, text=True, timeout=1800 * copies, cwd=registry.REPO_ROOT)
    wall = time.monotonic() - started
    reports = []
    for line in proc.stdout.splitlines():
        try:
            reports.append(json.loads(line))
        except ValueError:
            continue
    full = (proc.returncode == 0 and len(reports) == copies
            and all(r.get("score") == r.get("attainable") for r in reports))
    return wall, full


def bench_parallel(lab_id: str, copies: int, workspace: Path, warm: bool,
                   jobs: tuple[int, ...] = (1, 2, 3)) -> ParallelBench:
    lab = registry.get_lab(lab_id)
    folder = registry.lab_dirs("solutions")[lab.id]
    if not warm:
        grade(lab, folder)
    walls, ok = {}, {}
    for j in sorted(set(jobs) | {1}):
        walls[j], ok[j] = grade_copies(folder, copies, j, workspace)
        walls[j] = round(walls[j], 2)
    return ParallelBench(lab.id, copies, walls, ok)


def machine(client: Optional[docker.DockerClient]) -> dict:
    info: dict[str, Any] = {"cores": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version(),
                            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    if client is not None:
        version = client.version()
        info["docker_engine"] = version.get("Version")
        info["docker_api"] = version.get("ApiVersion")
    proc = run_cli(["docker", "version", "--format", "{{.Client.Version}}"], timeout=30)
    info["docker_cli"] = proc.stdout.strip() or None
    proc = run_cli(["docker", "compose", "version", "--short"], timeout=30)
    info["compose"] = proc.stdout.strip() or None
    return info


# -- output ---------------------------------------------------------------------------------------
def _num(x: Optional[float], fmt: str = ".1f", suffix: str = "") -> str:
    return "—" if x is None else f"{x:{fmt}}{suffix}"


def labs_table(labs: list[LabBench]) -> Table:
    """Per lab: grading, floor, their ratio, operations replayed / in situ (fits 40 columns)."""
    table = Table(title="Grading vs floor (s)", box=box.SIMPLE, title_justify="left", pad_edge=False)
    table.add_column("Lab", no_wrap=True)
    table.add_column("Grade", justify="right", no_wrap=True)
    table.add_column("Floor", justify="right", no_wrap=True)
    table.add_column("×", justify="right", no_wrap=True)
    table.add_column("Ops r/i", justify="right", no_wrap=True)
    for b in labs:
        table.add_row(b.lab[:2], _num(b.grading_s), _num(b.floor_s), _num(b.ratio, ".2f"),
                      f"{b.replayed_ops}/{b.in_situ_ops}")
    if labs:
        total_g, total_f = sum(b.grading_s for b in labs), sum(b.floor_s for b in labs)
        table.add_row("all", _num(total_g), _num(total_f), _num(ratio(total_g, total_f), ".2f"), "",
                      style="bold")
    table.caption = "× = grade / floor; Ops r/i = replayed / in situ"
    return table


def parallel_table(p: ParallelBench) -> Table:
    table = Table(title=f"{p.copies} × lab {p.lab[:2]} (s)", box=box.SIMPLE, title_justify="left", pad_edge=False)
    table.add_column("Jobs", justify="right", no_wrap=True)
    table.add_column("Wall", justify="right", no_wrap=True)
    table.add_column("Each", justify="right", no_wrap=True)
    table.add_column("/h", justify="right", no_wrap=True)
    table.add_column("OK", no_wrap=True)
    for jobs, wall in sorted(p.wall_s.items()):
        table.add_row(str(jobs), _num(wall), _num(wall / p.copies), _num(p.per_hour(jobs), ".0f"),
                      "yes" if p.all_full_marks[jobs] else "NO")
    table.caption = "speed-up: " + ", ".join(f"{j} jobs {_num(p.speedup(j), '.2f', '×')}"
                                              for j in sorted(p.wall_s) if j > 1)
    return table


def capacity_table(rows: list[dict]) -> Table:
    """Gradings per hour and minutes for a class of 30 and 150 (the class-size table)."""
    table = Table(title="Class size (min)", box=box.SIMPLE, title_justify="left", pad_edge=False)
    table.add_column("Lab", no_wrap=True)
    table.add_column("/h", justify="right", no_wrap=True)
    table.add_column("/h best", justify="right", no_wrap=True)
    for n in CLASS_SIZES:
        table.add_column(str(n), justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["lab"][:2], _num(r["per_hour_1"], ".0f"), _num(r["per_hour_best"], ".0f"),
                      *(_num(r[f"minutes_{n}"], ".0f") for n in CLASS_SIZES))
    if rows:
        table.caption = (f"best = {rows[0]['jobs']} jobs, its speed-up measured on one lab")
    return table


def write_json(path: Path, info: dict, labs: list[LabBench], parallel: Optional[ParallelBench]) -> dict:
    data = {"machine": info, "labs": [b.to_json() for b in labs],
            "parallel": parallel.to_json() if parallel else None,
            "capacity": capacity(labs, parallel)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return data


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder.tools.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--labs", nargs="*", default=None, help="lab numbers (default: every lab)")
    p.add_argument("--n", type=int, default=4, help="copies graded for each job count (0: skip)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 3], help="job counts (1 is always measured)")
    p.add_argument("--lab", default="01", help="the lab whose solution is copied")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (bench.json, floor-NN.txt)")
    return p


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        client = docker_client()
        labs = [registry.get_lab(k) for k in args.labs] if args.labs else list(registry.all_labs())
        info = machine(client)
        results: list[LabBench] = []
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            with Steps(len(labs) + (1 if args.n > 0 else 0), err) as steps:
                for lab in labs:
                    with steps.step(f"lab {lab.id}") as step:
                        result, lines = bench_lab(lab.id, Path(tmp) / lab.number)
                        step.summary = f"grade {result.grading_s:.1f} s, floor {result.floor_s:.1f} s"
                        results.append(result)
                        (args.out / f"floor-{lab.number}.txt").write_text(
                            f"# Floor of lab {lab.id}: seconds, how, operation\n" + "\n".join(lines) + "\n")
                parallel = None
                if args.n > 0:
                    with steps.step(f"{args.n} copies of lab {args.lab}, jobs {' '.join(map(str, args.jobs))}") as step:
                        parallel = bench_parallel(args.lab, args.n, Path(tmp) / "copies",
                                                  warm=any(l.number == registry.get_lab(args.lab).number for l in labs),
                                                  jobs=tuple(args.jobs))
                        step.summary = " / ".join(f"{s:.1f} s" for _, s in sorted(parallel.wall_s.items()))
        write_json(args.out / "bench.json", info, results, parallel)
        if results:
            console.print(labs_table(results))
        if parallel:
            console.print(parallel_table(parallel))
        if results:
            console.print(capacity_table(capacity(results, parallel)))
        console.print(f"{args.out / 'bench.json'} ({info['cores']} cores, Docker {info.get('docker_engine')}, "
                      f"{info['date']})", markup=False, highlight=False)
        return 0
    except GraderUnavailable as exc:
        err.print(f"[bold red]Benchmark impossible:[/] {exc.en}")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]Benchmark interrupted; its containers were removed.[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
