"""``python -m autograder``: grade a lab folder, or list the labs and their checks.

Exit status: 0 every check passed, 1 some did not, 2 the grader itself could not
run or finish (no Docker, Docker lost mid-grading, unknown lab, unreadable folder).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Optional

from rich.console import Console

from autograder.tools import doctor

from autograder import registry, report
from autograder.core import GraderUnavailable
from autograder.report.progress import Steps
from autograder.engine.runner import grade
from autograder.engine.lease import live_jobs
from autograder.engine import podman
from autograder.engine.docker_api import docker_client, labelled_jobs, sweep


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder",
                                description="Correcteur automatique des TP de conteneurisation.")
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="noter le TP contenu dans DIR (plusieurs dossiers : l'un après "
                                         "l'autre, ou --jobs N à la fois, avec la progression [k/N])")
    check.add_argument("dir", type=Path, nargs="+")
    check.add_argument("--lab", help="numéro ou identifiant du TP (sinon : le nom du dossier)")
    check.add_argument("--json", action="store_true", help="une ligne JSON sur la sortie standard")
    check.add_argument("--hidden", type=Path, metavar="DIR",
                       help="ajouter les vérifications cachées de l'enseignant (dossier de modules)")
    check.add_argument("--junit", type=Path, metavar="FILE",
                       help="écrire aussi un rapport JUnit XML dans FILE (un cas de test par vérification, "
                            "pour GitLab CI, GitHub Actions, Jenkins)")
    check.add_argument("--jobs", "-j", type=_positive, default=1, metavar="N",
                       help="plusieurs dossiers : N corrections en parallèle (défaut : 1, l'une après l'autre)")
    lst = sub.add_parser("list", help="lister les TP et leurs vérifications")
    lst.add_argument("--json", action="store_true")
    pre = sub.add_parser("preflight", help="vérifier que Docker et Compose v2 répondent (= doctor --for preflight)")
    pre.add_argument("--warn-only", action="store_true", help="avertir sans échouer")
    doc = sub.add_parser("doctor", help="diagnostiquer la machine : Docker, Compose, disque, ports, images, "
                                        "fins de ligne, GPU, Docker Hub ([OK] / [WARN] / [FAIL] et correctifs)")
    doctor.add_arguments(doc)
    cells = sub.add_parser("nbgrader-cells", help="(ré)écrire les sections « Questions de cours » et "
                                                  "« Notation automatique » des énoncés (une cellule "
                                                  "nbgrader par question et par vérification)")
    cells.add_argument("--check", action="store_true",
                       help="ne rien écrire ; code 1 si un énoncé n'est pas à jour")
    for name in ("clean", "sweep"):
        cl = sub.add_parser(name, help="supprimer tout ce qu'une correction interrompue a laissé "
                                       "(conteneurs, réseaux, volumes, images portant l'étiquette du "
                                       "correcteur) ; les corrections en cours sont laissées intactes")
        cl.add_argument("--all", "--force", dest="all", action="store_true",
                        help="tout supprimer, y compris les corrections en cours (elles échoueront)")
    return p


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"un entier ≥ 1 est attendu, pas « {text} »")
    return value


def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: the runner cleans up on the way out
    raise KeyboardInterrupt


def preflight(warn_only: bool) -> int:
    """Docker engine and Compose v2 reachable? The doctor's preflight profile: exit 2 otherwise."""
    args = _parser().parse_args(["doctor", "--for", "preflight"] + (["--warn-only"] if warn_only else []))
    return doctor.main(args)


def _lab(args: argparse.Namespace, folder: Path):
    lab = registry.get_lab(args.lab) if args.lab else registry.lab_for_folder(folder)
    if args.hidden:
        from autograder.classroom.hidden import extended

        lab = extended(lab, args.hidden)
    return lab


def check_many(args: argparse.Namespace, err: Console) -> int:
    """Grade several folders one after the other: ``[k/N] TP … 12.3 s`` on stderr, each scorecard
    (or JSON line) on stdout, then a summary. Exit 2 when one could not be graded, else 1 when one
    did not pass, else 0. With ``--jobs N`` > 1: N at a time (:func:`check_parallel`)."""
    if args.jobs > 1:
        return check_parallel(args, err)
    codes: list[int] = []
    rows: list[tuple[str, str, str]] = []
    with Steps(len(args.dir), err) as steps:
        for folder in args.dir:
            try:
                label = (registry.get_lab(args.lab) if args.lab else registry.lab_for_folder(folder)).id
            except GraderUnavailable:
                label = folder.name
            with steps.step(f"TP {label}") as step:
                try:
                    lab = _lab(args, folder)
                    result = grade(lab, folder)
                except GraderUnavailable as exc:
                    step.summary = "correction impossible"
                    if args.json:
                        print(json.dumps({"dir": str(folder), "error": exc.en, "error_fr": exc.fr},
                                         ensure_ascii=False), flush=True)
                    err.print(f"[bold red]Correction impossible ({folder}) :[/] {exc.fr}\n[dim]{exc.en}[/]")
                    codes.append(2)
                    rows.append((folder.name, "—", "—"))
                    _junit_add(args, folder, {"error": exc.en, "error_fr": exc.fr})
                    continue
                _junit_add(args, folder, result)
                step.summary = f"{report._fmt(result.score)}/{report._fmt(result.max_score)}"
                if args.json:
                    report.to_json(result, sys.stdout)
                    sys.stdout.flush()
                else:
                    report.render(result)
                codes.append(2 if result.incomplete else 0 if result.all_passed else 1)
                rows.append((lab.id, step.summary, f"{result.duration_s:.1f} s"))
    if not args.json:
        report.render_summary(rows, err)
    return max(codes)


def check_parallel(args: argparse.Namespace, err: Console) -> int:
    """``check DIR… --jobs N``: N gradings at a time, each in its own child process
    (:mod:`autograder.engine.batch`); ``[k/N] label score durée`` on stderr as each finishes, then the
    scorecards (or JSON lines) in the input order, then the summary. Exit status as
    :func:`check_many`."""
    from autograder.engine import batch

    total = len(args.dir)
    done = 0
    jobs: list[batch.Job] = []
    titles: list[str] = []
    by_folder: dict[int, int] = {}  # index in args.dir → index in jobs
    unknown: dict[int, dict] = {}

    def line(label: str, score: str, seconds: float) -> None:
        nonlocal done
        done += 1
        err.print(f"[{done}/{total}] {label} {score} {batch.seconds(seconds)}", markup=False, highlight=False,
                  soft_wrap=True)

    for i, folder in enumerate(args.dir):
        try:
            lab = _lab(args, folder)
        except GraderUnavailable as exc:  # no lab to grade it for: reported before the gradings
            unknown[i] = {"error": exc.en, "error_fr": exc.fr}
            line(str(folder), "correction impossible", 0.0)
            continue
        by_folder[i] = len(jobs)
        titles.append(lab.title)
        jobs.append(batch.Job(folder, lab.id, f"TP {lab.id}", args.hidden))
    repeated = Counter(job.lab for job in jobs)
    for job in jobs:  # several folders of one lab (a class's hand-ins): each named by its path
        if repeated[job.lab] > 1:
            job.label = f"{job.folder} (TP {job.lab})"

    def progress(k: int, n: int, outcome: batch.Outcome) -> None:
        r = outcome.report
        line(outcome.job.label, f"{report._fmt(r['score'])}/{report._fmt(r['max_score'])}" if outcome.graded
             else "correction impossible", outcome.seconds)

    outcomes = batch.Batch(args.jobs).run(jobs, progress)
    codes: list[int] = []
    rows: list[tuple[str, str, str]] = []
    for i, folder in enumerate(args.dir):
        outcome = outcomes[by_folder[i]] if i in by_folder else None
        data = outcome.report if outcome else unknown[i]
        _junit_add(args, folder, data)
        if "checks" not in data:
            if args.json:
                print(json.dumps({"dir": str(folder), **data}, ensure_ascii=False), flush=True)
            err.print(f"[bold red]Correction impossible ({folder}) :[/] {data.get('error_fr', '')}\n"
                      f"[dim]{data.get('error', '')}[/]")
            codes.append(2)
            rows.append((folder.name, "—", "—"))
            continue
        result = batch.to_report(data, titles[by_folder[i]])
        if args.json:
            print(json.dumps(data, ensure_ascii=False), flush=True)
        else:
            report.render(result)
        codes.append(outcome.exit_code)
        rows.append((outcome.job.label.removeprefix("TP "),
                     f"{report._fmt(result.score)}/{report._fmt(result.max_score)}", batch.seconds(outcome.seconds)))
    if not args.json:
        report.render_summary(rows, err)
    return max(codes)


def _junit_add(args: argparse.Namespace, folder: Path, data) -> None:
    """Remember one folder's report (a Report, its JSON, or the error) for ``--junit``.

    junitparser is imported only when ``--junit`` is asked for: a grader without it (a minimal
    image, tests/grader/test_topology.py) still grades."""
    if getattr(args, "junit", None):
        if not isinstance(data, dict):
            from autograder.report import junit

            data = junit.report_data(data)
        args.junit_entries.append((str(folder), data))


def _junit_write(args: argparse.Namespace, err: Console) -> None:
    if getattr(args, "junit", None) and args.junit_entries:
        from autograder.report import junit

        problem = junit.write_quietly(args.junit, args.junit_entries)
        if problem:
            err.print(f"[yellow]Attention :[/] {problem}")


def clean(everything: bool, err: Console) -> int:
    """Remove what gradings left in Docker, except the objects of gradings in flight (a live
    lease, :mod:`autograder.engine.lease`) unless ``everything``."""
    client = docker_client()
    live = set() if everything else live_jobs() & labelled_jobs(client)
    removed = sweep(client, keep=frozenset(live))
    err.print("Supprimé : " + ", ".join(f"{n} {k}" for k, n in removed.items()))
    engine = podman.find_podman()
    if engine is not None:  # lab 13's pods, secrets and volumes, then Podman's labelled objects
        pclient = podman.podman_client(engine)
        in_flight = frozenset() if everything else frozenset(live_jobs())
        kube = podman.remove_kube_objects(pclient, keep=in_flight)
        removed = sweep(pclient, keep=in_flight)
        err.print(f"Podman ({engine.found}) : supprimé " +
                  ", ".join(f"{n} {k}" for k, n in {**kube, **removed}.items()))
    if live:
        n = len(live)
        err.print(f"{n} correction{'s' if n > 1 else ''} en cours laissée{'s' if n > 1 else ''} "
                  f"intacte{'s' if n > 1 else ''} ({', '.join(sorted(live))}) ; "
                  "`python -m autograder clean --all` les supprime aussi.")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    args.junit_entries = []
    err = Console(stderr=True)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == "list":
            labs = registry.all_labs()
            if args.json:
                print(json.dumps(report.labs_json(labs), ensure_ascii=False, indent=1))
            else:
                report.render_list(labs)
            return 0
        if args.command == "nbgrader-cells":
            from autograder.classroom.nbgrade import write_sections

            stale = write_sections(registry.REPO_ROOT / "labs", check_only=args.check)
            verb = "à régénérer" if args.check else "mis à jour"
            for path in stale:
                err.print(f"{verb} : {path}")
            return 1 if args.check and stale else 0
        if args.command == "preflight":
            return preflight(args.warn_only)
        if args.command == "doctor":
            return doctor.main(args)
        if args.command in ("clean", "sweep"):
            return clean(args.all, err)
        if len(args.dir) > 1:
            return check_many(args, err)
        folder = args.dir[0]
        lab = _lab(args, folder)
        if not args.json:
            err.print(f"[bold]Correction du TP {lab.id}[/] dans {folder} …")
        result = grade(lab, folder)
        _junit_add(args, folder, result)
        if args.json:
            report.to_json(result, sys.stdout)
        else:
            report.render(result)
        if result.incomplete:
            err.print("[bold red]Correction incomplète :[/] Docker a cessé de répondre. Relancez Docker, "
                      "puis `python -m autograder clean`, puis la correction.\n"
                      "[dim]Grading incomplete: the Docker daemon stopped answering.[/]")
            return 2
        return 0 if result.all_passed else 1
    except GraderUnavailable as exc:
        if args.command == "check" and not args.junit_entries:
            _junit_add(args, args.dir[0], {"error": exc.en, "error_fr": exc.fr})
        if getattr(args, "json", False):
            print(json.dumps({"error": exc.en, "error_fr": exc.fr}, ensure_ascii=False))
        err.print(f"[bold red]Correction impossible :[/] {exc.fr}\n[dim]Grading impossible: {exc.en}[/]")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]Correction interrompue ; les conteneurs du correcteur ont été supprimés.[/]")
        return 130
    finally:
        _junit_write(args, err)
