"""`make test-engines`: grade every lab's solution, starter, mutants and alternatives on several
Docker engines ("lanes", tests/engines/lanes.py), check each lane against what each case expects
and compare the check statuses across lanes. Writes build/engines/matrix.json, prints a table
lab × lane; exit 1 when a case misbehaves or two lanes disagree, 2 when a lane cannot be set up.

    python tests/engines/matrix.py [--lanes host,sid,podman|none] [--cases solutions,starters,mutants,alternatives]
                                   [--labs "01 05"] [--jobs 2] [--only ID,…] [--out F] [--merge F…]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parents[1])]
from autograder.registry import get_lab  # noqa: E402
from cases import LABS, SOLUTIONS, lab_ids, variants  # noqa: E402
from expect import Case, differences, problems, statuses, table, triage  # noqa: E402
from lanes import BUILD, LANES, SCRATCH, LaneError, log  # noqa: E402

CASE_KINDS = {"solutions": "solution", "starters": "starter", "mutants": "mutant", "alternatives": "alternative"}
CASE_TIMEOUT_S = 1800
RUNNING: set[subprocess.Popen] = set()   # graders in flight: told to stop (SIGTERM) when the run is cut short
RUNNING_LOCK = threading.Lock()


def stop_running() -> None:
    with RUNNING_LOCK:
        procs = list(RUNNING)
    for proc in procs:
        proc.terminate()


def select_labs(spec: str) -> list[str]:
    labs = lab_ids()
    if not spec.strip():
        return labs
    wanted = [w.zfill(2) if w.isdigit() else w for w in spec.replace(",", " ").split()]
    chosen = [lab for lab in labs if any(lab == w or lab.startswith(f"{w}-") for w in wanted)]
    unknown = [w for w in wanted if not any(lab == w or lab.startswith(f"{w}-") for lab in labs)]
    if unknown:
        raise SystemExit(f"unknown lab(s): {', '.join(unknown)} (known: {', '.join(labs)})")
    return chosen


def derive_cases(labs: list[str], kinds: list[str], dest: Path) -> list[tuple[Case, Path]]:
    """Every case of the repository for ``labs`` and ``kinds``, with the folder to grade (variants
    materialised under ``dest``, each in its own ``<kind>/<name>/<lab>`` folder)."""
    out = []
    for lab in labs:
        if "solution" in kinds:
            out.append((Case(lab, "solution", "solution"), SOLUTIONS / lab))
        if "starter" in kinds:
            out.append((Case(lab, "starter", "starter"), LABS / lab))
    for kind in ("mutant", "alternative"):
        if kind not in kinds:
            continue
        for v in variants(kind):
            if v.lab in labs:
                out.append((Case(v.lab, kind, v.name, v.fails), v.materialise(dest / kind / v.name)))
    order = {lab: i for i, lab in enumerate(labs)}
    return sorted(out, key=lambda cp: (order[cp[0].lab], CASE_KINDS_ORDER.index(cp[0].kind), cp[0].name))


CASE_KINDS_ORDER = list(CASE_KINDS.values())


def grade(lane, case: Case, folder: Path) -> dict:
    """One grading of ``folder`` on ``lane`` through the CLI; the entry matrix.json keeps."""
    args = lane.command([sys.executable, "-m", "autograder", "check", str(folder), "--lab", case.lab, "--json"])
    start = time.monotonic()
    code, result, error = None, None, ""
    lane.ensure_aliases()
    proc = subprocess.Popen(args, cwd=HERE.parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **lane.env})
    with RUNNING_LOCK:
        RUNNING.add(proc)
    try:
        out, error = proc.communicate(timeout=CASE_TIMEOUT_S)
        code = proc.returncode
        lines = [line for line in out.splitlines() if line.startswith("{")]
        result = json.loads(lines[-1]) if lines else None
    except subprocess.TimeoutExpired:
        proc.terminate()  # the grader cleans up on SIGTERM
        proc.communicate()
        error = f"timed out after {CASE_TIMEOUT_S} s"
    except json.JSONDecodeError as exc:
        error = f"unreadable JSON: {exc}"
    finally:
        with RUNNING_LOCK:
            RUNNING.discard(proc)
    wall = round(time.monotonic() - start, 1)
    checks = (result or {}).get("checks", [])
    return {"code": code, "score": (result or {}).get("score"), "attainable": (result or {}).get("attainable"),
            "max_score": (result or {}).get("max_score"), "duration_s": (result or {}).get("duration_s"),
            "wall_s": wall, "statuses": statuses(result),
            "messages": {c["id"]: c["message"] for c in checks if c["status"] != "passed"},
            "problems": problems(case, code, result, error)}


def run(lane_names: list[str], kinds: list[str], labs: list[str], jobs: int,
        only: tuple[str, ...] = ()) -> tuple[dict, list[dict]]:
    """Grade the cases on the lanes: (lane_info, case entries in order). Raises LaneError."""
    work = SCRATCH / f"autograder-engines-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "cases").mkdir(parents=True)
    lane_info: dict[str, dict] = {}
    entries: dict[str, dict] = {}
    try:
        cases = [(c, f) for c, f in derive_cases(labs, kinds, work / "cases")
                 if not only or any(o in c.id for o in only)]
        log(f"{len(cases)} cases ({', '.join(kinds)}) × lanes {', '.join(lane_names)}, {jobs} gradings at a time")
        with contextlib.ExitStack() as stack:
            lanes = {}
            for name in lane_names:
                lanes[name] = stack.enter_context(LANES[name](work))
                lane_info[name] = {"setup_s": lanes[name].setup_s, "facts": lanes[name].facts}
            # Longest labs first (their wall-clock budget), so that no long grading is left alone at the end.
            budget = {lab: get_lab(lab).budget_s for lab in labs}
            tasks = sorted([(lanes[name], case, folder) for case, folder in cases for name in lane_names],
                           key=lambda t: -budget[t[1].lab])
            spans: dict[str, list[float]] = {name: [] for name in lane_names}
            lock = threading.Lock()
            done = [0]

            def one(task):
                lane, case, folder = task
                t0 = time.monotonic()
                entry = grade(lane, case, folder)
                with lock:
                    spans[lane.name] += [t0, time.monotonic()]
                    entries.setdefault(case.id, {"id": case.id, "lab": case.lab, "kind": case.kind,
                                                 "name": case.name, "fails": sorted(case.fails), "lanes": {}})
                    entries[case.id]["lanes"][lane.name] = entry
                    done[0] += 1
                    verdict = "ok" if not entry["problems"] else "PROBLEM: " + "; ".join(entry["problems"])
                    log(f"[{done[0]}/{len(tasks)}] {lane.name:<5} {case.id}: {entry['score']}/{entry['attainable']} "
                        f"in {entry['wall_s']} s, {verdict}")

            pool = ThreadPoolExecutor(max_workers=jobs)
            try:
                for future in [pool.submit(one, task) for task in tasks]:
                    future.result()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                stop_running()
                raise
            finally:
                pool.shutdown(wait=True)  # the graders clean up before the lanes go
            for name in lane_names:
                lane_info[name]["grading_s"] = round(max(spans[name]) - min(spans[name]), 1) if spans[name] else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lane_info, [entries[c.id] for c, _ in cases if c.id in entries]


def merge(lane_info: dict, ordered: list[dict], files: list[Path]) -> list[dict]:
    """Add the lanes recorded in earlier matrix.json files (a lane graded now wins), so that lanes
    graded in separate runs are compared too. Cases only in a file are appended."""
    by_id = {e["id"]: e for e in ordered}
    for path in files:
        data = json.loads(path.read_text())
        for name, info in data["lanes"].items():
            lane_info.setdefault(name, info)
        for case in data["cases"]:
            entry = by_id.get(case["id"])
            if entry is None:
                entry = by_id[case["id"]] = {**case, "lanes": {}}
                ordered.append(entry)
            for name, result in case["lanes"].items():
                entry["lanes"].setdefault(name, result)
    return ordered


def report(lane_info: dict, ordered: list[dict], out: Path) -> int:
    """Compare, write ``out``, print the table and every problem or difference; the exit status."""
    lane_names = list(lane_info)
    bound = {e["lab"] for e in ordered if get_lab(e["lab"]).engine != "docker"}
    for entry in ordered:
        entry["differences"] = differences(entry["lanes"], entry["lab"] in bound)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "lanes": lane_info,
                               "cases": ordered}, ensure_ascii=False, indent=1))
    print()
    print(table(ordered, lane_names, lane_info))
    bad, shown = [], 0
    for e in ordered:
        is_bad, excused, stale = triage(e, engine_bound=e["lab"] in bound)
        bad += [e] if is_bad else []
        if not (e["differences"] or any(v["problems"] for v in e["lanes"].values()) or stale):
            continue
        shown += 1
        print(f"\n{e['id']}:" + ("" if is_bad else "  (known engine difference: does not fail the run)"))
        for reason in excused:
            print(f"  known: {reason}")
        for lane in stale:
            print(f"  {lane}: behaves as expected now: remove it from tests/engines/expect.py KNOWN")
        for lane, v in e["lanes"].items():
            for p in v["problems"]:
                print(f"  {lane}: {p}")
        for d in e["differences"]:
            print(f"  {d['check']} differs: " + " | ".join(f"{lane} {x['status']}: {x['message'][:300]}"
                                                         for lane, x in d["lanes"].items()))
    print(f"\n{out}: {len(ordered)} cases, {len(bad)} with a problem or a difference"
          + (f" ({shown - len(bad)} shown for a known engine difference)" if shown > len(bad) else ""))
    return 1 if bad else 0


def main(argv=None) -> int:
    # SIGTERM (CI, timeout) unwinds like Ctrl-C: graders stopped, lanes torn down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lanes", default="host,sid,podman")
    parser.add_argument("--cases", default=",".join(CASE_KINDS))
    parser.add_argument("--labs", default="")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=BUILD / "matrix.json")
    parser.add_argument("--only", default="", help="comma-separated parts of case ids (e.g. a rerun of a few cases)")
    parser.add_argument("--merge", type=Path, nargs="*", default=[],
                        help="earlier matrix.json files whose lanes are compared too ('--lanes none': only compare)")
    args = parser.parse_args(argv)
    lane_names = [x for x in args.lanes.replace(" ", ",").split(",") if x and x != "none"]
    kinds_in = [x for x in args.cases.replace(" ", ",").split(",") if x]
    bad = [x for x in lane_names if x not in LANES] + [x for x in kinds_in if x not in CASE_KINDS]
    if bad or not (lane_names or args.merge) or not kinds_in:
        parser.error(f"unknown lane or case kind: {bad} (lanes: {', '.join(LANES)}; cases: {', '.join(CASE_KINDS)})")
    lane_info, ordered = {}, []
    if lane_names:
        try:
            lane_info, ordered = run(lane_names, [CASE_KINDS[k] for k in kinds_in], select_labs(args.labs),
                                     max(1, args.jobs), tuple(x for x in args.only.split(",") if x))
        except LaneError as exc:
            log(f"a lane could not be set up: {exc}")
            return 2
    return report(lane_info, merge(lane_info, ordered, args.merge), args.out)


if __name__ == "__main__":
    sys.exit(main())
