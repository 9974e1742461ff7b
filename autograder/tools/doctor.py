"""``python -m autograder doctor`` (``make doctor``): is this machine ready for the course?

One line per prerequisite, tagged ``[OK]``, ``[INFO]``, ``[WARN]``, ``[FAIL]`` or ``[SKIP]`` (not
checked because Docker does not answer), each problem followed by its fix, in French. A check is a
small declarative unit: a stable id, a French title and a function of the :class:`Context` that
returns a :class:`Finding` (status, what was observed, the fix). Everything that depends on the
machine (ports, folders, URL, disk threshold, images, ``docker info``) comes from
:class:`Settings` or the context, so the tests point a check at a taken port, a CRLF file, a
closed URL or a fake ``docker info``.

Profiles run a subset before other targets (``--for``):

* ``lab`` (``make lab``): engine, Compose, port 8888; only warns, never keeps JupyterLab from
  starting;
* ``check`` (``make check``): engine and Compose block (exit 2, as the grader itself would), an old
  engine or API, CRLF endings in the lab's folder and the course images only warn;
* ``preflight`` (``python -m autograder preflight``, ``make docker-ready``): engine and Compose,
  exit 2 when one fails.

The engine's lines (version and API, image store, builder, cgroups; OS and architecture beside
the architecture check) come from :func:`autograder.engine.imagefacts.engine_facts`. Course images are
sized by :func:`autograder.engine.imagefacts.stored_size`, never by inspect's ``Size`` (the packed size
under the containerd store); only ``make doctor`` measures them (~10 s for the course images).

Profiles print only what is not OK. Exit status: 0 nothing failed, 1 something failed (a profile:
2 when a blocking check failed, else 0), 2 the doctor itself cannot run (bad arguments).
"""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from autograder.tools.doctor_base import (Check, Context, DockerDown, Finding, HUB_URL, LAB_PORTS, MIN_FREE_GB,
                                          Settings, Status, _short)
from autograder.tools.doctor_checks import (check_arch, check_builder, check_cgroup, check_compose, check_crlf,
                                            check_disk, check_engine, check_engine_version, check_hub,
                                            check_image_store, check_nvidia, check_podman, image_check, port_check)


# -- Registry, profiles, running -----------------------------------------------------------------
def checks(settings: Settings) -> list[Check]:
    """Every check, in the order they print."""
    return [
        Check("docker-engine", "Moteur Docker joignable", check_engine),
        Check("compose", "Docker Compose v2", check_compose),
        Check("engine-version", "Version du moteur et de son API", check_engine_version),
        Check("store", "Stockage des images", check_image_store),
        Check("builder", "Constructeur d'images (BuildKit)", check_builder),
        Check("cgroup", "Version des cgroups", check_cgroup),
        Check("disk", "Espace disque libre", check_disk),
        *(port_check(p, LAB_PORTS.get(p, "TP")) for p in settings.ports),
        Check("arch", "Architecture", check_arch),
        *(image_check(tag) for tag in settings.images),
        Check("crlf", "Fins de ligne des scripts, Dockerfiles et YAML", check_crlf),
        Check("nvidia", "Runtime NVIDIA (GPU, TP 11)", check_nvidia),
        Check("podman", "Podman (manifestes Kubernetes, TP 13)", check_podman),
        Check("docker-hub", "Docker Hub joignable", check_hub),
    ]


@dataclass(frozen=True)
class Profile:
    """A subset of the checks run before another target (ids, or prefixes ending with ``-``)."""

    only: Optional[tuple[str, ...]]
    blocking: frozenset[str] = frozenset()
    quiet: bool = False


PROFILES: dict[str, Profile] = {
    "all": Profile(None),
    "lab": Profile(("docker-engine", "compose", "port-8888"), quiet=True),
    "check": Profile(("docker-engine", "compose", "engine-version", "crlf", "image-"),
                     blocking=frozenset({"docker-engine", "compose"}), quiet=True),
    "preflight": Profile(("docker-engine", "compose"), blocking=frozenset({"docker-engine", "compose"}), quiet=True),
}


def _matches(check: Check, name: str) -> bool:
    return check.id == name or (name.endswith("-") and check.id.startswith(name))


def select(all_checks: Sequence[Check], names: Optional[Iterable[str]], *, strict: bool = True) -> list[Check]:
    """The checks named (ids, or prefixes ending with ``-``), in order; ``strict``: ValueError
    for a name that matches none (a profile's names may match none: ``--port`` replaced 8888)."""
    if names is None:
        return list(all_checks)
    names = list(names)
    unknown = [n for n in names if not any(_matches(c, n) for c in all_checks)]
    if strict and unknown:
        raise ValueError(", ".join(unknown))
    return [c for c in all_checks if any(_matches(c, n) for n in names)]


def run_check(check: Check, ctx: Context) -> Finding:
    try:
        return check.run(ctx)
    except DockerDown:
        return Finding(Status.SKIP, "non vérifié : Docker ne répond pas")
    except Exception as exc:  # noqa: BLE001 - one broken probe must not hide the other lines
        return Finding(Status.WARN, f"vérification impossible ({type(exc).__name__} : {_short(exc)})")


def diagnose(selected: Sequence[Check], ctx: Context) -> list[tuple[Check, Finding]]:
    return [(c, run_check(c, ctx)) for c in selected]


def print_line(console: Console, status: Status, text: str, fix: str = "") -> None:
    """``[TAG]  text``, wrapped under the text (not under the tag) to the terminal's width, then
    ``→ fix`` on indented lines: readable in a narrow terminal, every line either tagged or indented."""
    indent = " " * (len("[INFO]") + 1)
    width = max(24, console.width - len(indent))
    lines = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    out = Text.assemble((status.tag.ljust(len(indent) - 1), status.value[1]), " ", lines[0])
    for line in lines[1:]:
        out.append("\n" + indent + line)
    for line in textwrap.wrap("→ " + fix, width, break_on_hyphens=False) if fix else ():
        out.append("\n" + indent)
        out.append(line, style="italic")
    console.print(out, soft_wrap=True, highlight=False)


def render(results: Sequence[tuple[Check, Finding]], console: Console, *, quiet: bool = False) -> None:
    """One tagged line per check (``quiet``: only WARN and FAIL), then a tagged summary."""
    for check, f in results:
        if not quiet or f.status in (Status.WARN, Status.FAIL):
            print_line(console, f.status, f"{check.title} : {f.observed}",
                       f.fix if f.status in (Status.WARN, Status.FAIL) else "")
    if quiet:
        return
    count = {s: sum(f.status is s for _, f in results) for s in Status}
    summary = "Bilan : " + ", ".join(f"{n} {s.name}" for s, n in count.items() if n)
    if count[Status.FAIL]:
        print_line(console, Status.FAIL, f"{summary} : corrigez les lignes [FAIL], puis relancez `make doctor`.")
    elif count[Status.WARN]:
        print_line(console, Status.WARN, f"{summary} : rien de bloquant ; lisez les lignes [WARN].")
    else:
        print_line(console, Status.OK, f"{summary} : cette machine est prête pour le cours.")


def exit_status(results: Sequence[tuple[Check, Finding]], profile: Profile, warn_only: bool) -> int:
    failed = {c.id for c, f in results if f.status is Status.FAIL}
    if warn_only or not failed:
        return 0
    if profile.only is None:
        return 1
    return 2 if failed & profile.blocking else 0


def downgraded(results, profile: Profile, warn_only: bool) -> list[tuple[Check, Finding]]:
    """In a profile, only blocking checks fail; the others (and all with --warn-only) warn."""
    if profile.only is None and not warn_only:
        return list(results)
    return [(c, Finding(Status.WARN, f.observed, f.fix)
             if f.status is Status.FAIL and (warn_only or c.id not in profile.blocking) else f)
            for c, f in results]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--for", dest="profile", choices=sorted(PROFILES), default="all",
                   help="n'exécuter que ce qui sert avant cette cible (make lab, make check)")
    p.add_argument("--only", action="append", metavar="ID",
                   help="n'exécuter que cette vérification (id, ou préfixe finissant par « - » : image-)")
    p.add_argument("--path", action="append", type=Path, metavar="DIR",
                   help="dossier où chercher les fins de ligne CRLF (défaut : labs/)")
    p.add_argument("--port", action="append", type=int, metavar="N", help="port à vérifier (défaut : ceux des TP)")
    p.add_argument("--min-free-gb", type=float, default=MIN_FREE_GB, metavar="GO",
                   help=f"espace disque libre minimal (défaut : {MIN_FREE_GB:g} Go)")
    p.add_argument("--hub-url", default=HUB_URL, help="adresse testée pour Docker Hub")
    p.add_argument("--warn-only", action="store_true", help="avertir sans jamais échouer (code 0)")


def main(args: argparse.Namespace, console: Optional[Console] = None, err: Optional[Console] = None) -> int:
    console = console or Console()
    err = err or Console(stderr=True)
    profile = PROFILES[args.profile]
    settings = Settings(
        ports=tuple(args.port) if args.port else Settings.ports,
        paths=tuple(args.path) if args.path else Settings.paths,
        min_free_gb=args.min_free_gb,
        hub_url=args.hub_url,
        measure_sizes=profile.only is None,
    )
    try:
        selected = select(checks(settings), profile.only, strict=False)
        if args.only:
            selected = select(selected, args.only)
    except ValueError as exc:
        err.print(f"[bold red]Vérification inconnue :[/] {escape(str(exc))}. Les vérifications : "
                  + ", ".join(c.id for c in checks(settings)))
        return 2
    try:
        results = downgraded(diagnose(selected, Context(settings)), profile, args.warn_only)
        render(results, console if not profile.quiet else err, quiet=profile.quiet)
    except Exception as exc:  # noqa: BLE001 - each check already reports its own errors
        err.print(f"[bold red]Le diagnostic lui-même a échoué :[/] {type(exc).__name__} : {escape(_short(exc))}",
                  markup=True, highlight=False)
        return 2
    return exit_status(results, profile, args.warn_only)
