"""Which image builder the grader uses, and BuildKit builds through the docker CLI.

BuildKit is the default builder of Docker 23+ and of Docker Desktop; students write Dockerfiles
for it (``RUN --mount=type=cache``, ``FROM --platform=$BUILDPLATFORM``, ``# syntax=``), and
its log says ``CACHED`` where the classic builder said « Using cache ». The grader therefore
builds with BuildKit wherever the engine offers it, and with the classic builder (docker SDK,
:meth:`autograder.engine.sandbox.Sandbox.build`) only where it does not:

* ``buildx``: the CLI has the buildx plugin (Docker Desktop, Docker Engine packages, Debian's
  ``docker-buildx``): ``docker buildx build --load``;
* ``buildkit``: a docker CLI older than 23 builds with the engine's BuildKit itself when
  ``DOCKER_BUILDKIT=1`` (Debian 12's 20.10 CLI);
* ``classic``: no BuildKit (a 23+ CLI without buildx, Podman's Docker API, whose builder
  Buildah understands BuildKit's syntax anyway).

``AUTOGRADER_BUILDER`` (``buildx``, ``buildkit`` or ``classic``) forces a choice. BuildKit
builds are read from ``--progress=plain``: :func:`parse_plain` turns it into
``(instruction, cached)`` steps, the same shape as the classic builder's log.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from contextlib import nullcontext
from typing import Callable, ContextManager, Iterable, Optional

KINDS = ("buildx", "buildkit", "classic")
# What the docker CLI sees of the grader's environment (as autograder.engine.docker_cli.run_cli).
CLI_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
DETECT_TIMEOUT_S = 15
# A `# syntax=` directive names a frontend image; offline (no registry) it cannot be fetched.
SYNTAX = re.compile(r"^#\s*syntax\s*=\s*(\S+)", re.IGNORECASE)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.*)$")
STATE = re.compile(r"^#(\d+) (CACHED|DONE|ERROR|CANCELED)\b")


@dataclass(frozen=True)
class Builder:
    kind: str          # "buildx" | "buildkit" | "classic"
    version: str = ""  # buildx's or the CLI's version, when known
    reason: str = ""   # why not BuildKit, for the classic builder

    @property
    def buildkit(self) -> bool:
        return self.kind != "classic"

    def describe(self) -> str:
        """One French line for ``make doctor`` and the notes."""
        if self.kind == "buildx":
            return f"BuildKit (plugin buildx {self.version})".replace(" )", ")")
        if self.kind == "buildkit":
            return f"BuildKit intégré au moteur (client docker {self.version}, DOCKER_BUILDKIT=1)"
        return "builder classique" + (f" ({self.reason})" if self.reason else "")


def _cli(args: list[str], env: Optional[dict] = None) -> Optional[subprocess.CompletedProcess]:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=DETECT_TIMEOUT_S,
                              env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _major(version: str) -> int:
    m = re.match(r"\D*(\d+)", version or "")
    return int(m.group(1)) if m else 0


@functools.lru_cache(maxsize=8)
def _detect(docker_host: str, forced: str) -> Builder:
    if forced in KINDS:
        return Builder(forced, reason="imposé par AUTOGRADER_BUILDER" if forced == "classic" else "")
    if shutil.which("docker") is None:
        return Builder("classic", reason="client docker introuvable")
    server = _cli(["docker", "version", "--format", "{{json .Server}}"])
    if server is not None and "podman" in (server.stdout or "").lower():
        return Builder("classic", reason="Podman : son API construit avec Buildah")
    buildx = _cli(["docker", "buildx", "version"])
    if buildx is not None and buildx.returncode == 0:
        words = buildx.stdout.split()
        return Builder("buildx", words[1] if len(words) > 1 else "")
    client = _cli(["docker", "version", "--format", "{{.Client.Version}}"])
    version = (client.stdout.strip() if client is not None else "")
    if version and _major(version) < 23:
        return Builder("buildkit", version)
    return Builder("classic", reason="ni plugin buildx ni client docker capable de BuildKit")


def detect() -> Builder:
    """The builder to use against the engine the environment points at (cached per DOCKER_HOST)."""
    return _detect(os.environ.get("DOCKER_HOST", ""), os.environ.get("AUTOGRADER_BUILDER", "").strip().lower())


def compose_env() -> dict[str, str]:
    """What ``docker compose`` needs to build the way the grader builds.

    ``COMPOSE_BAKE=false``: Compose 2.40 builds through ``buildx bake`` by default, and refuses to
    build at all when the CLI has a buildx plugin older than 0.17 (Debian trixie's 0.13).
    ``DOCKER_BUILDKIT=0`` where the grader builds classically: against Podman's API, Compose would
    otherwise boot a ``moby/buildkit`` container and pull it from Docker Hub."""
    env = {"COMPOSE_BAKE": "false"}
    if detect().kind == "classic":
        env["DOCKER_BUILDKIT"] = "0"
    return env


# -- reading BuildKit's plain progress ----------------------------------------------------------
def parse_plain(lines: Iterable[str]) -> list[tuple[str, bool]]:
    """``(instruction, cached)`` for each Dockerfile step of a ``--progress=plain`` log, in the
    order of the steps' numbers (``[stage k/n]``); ``[internal]`` steps and the final export
    are left out. A step is cached when BuildKit printed ``#N CACHED`` for it."""
    names: dict[str, str] = {}
    cached: set[str] = set()
    for raw in lines:
        line = ANSI.sub("", raw).rstrip()
        m = STEP.match(line)
        if m and m.group(1) not in names and not m.group(2).startswith("internal"):
            names[m.group(1)] = m.group(2) + "\x00" + m.group(3)
            continue
        m = STATE.match(line)
        if m and m.group(2) == "CACHED":
            cached.add(m.group(1))

    def order(item: tuple[str, str]) -> tuple:
        where = item[1].split("\x00", 1)[0]
        k = re.search(r"(\d+)/(\d+)$", where)
        return (int(k.group(1)) if k else 0, int(item[0]))

    steps = []
    for vid, label in sorted(names.items(), key=order):
        where, instruction = label.split("\x00", 1)
        if re.search(r"\d+/\d+$", where):
            steps.append((instruction.strip(), vid in cached))
    return steps


def error_lines(lines: Iterable[str]) -> str:
    """BuildKit's own error: the ``ERROR:`` lines and the failing step's last output."""
    kept = [ANSI.sub("", l).rstrip() for l in lines]
    errors = [l for l in kept if l.startswith("ERROR") or " ERROR: " in l or l.startswith("#") and " ERROR" in l]
    return "\n".join(dict.fromkeys(errors)) or "\n".join(kept[-5:])


def syntax_directive(text: str) -> Optional[tuple[int, str]]:
    """``(line index, frontend image)`` of the Dockerfile's ``# syntax=`` directive, if any
    (parser directives only come before the first instruction, blank line or plain comment)."""
    for i, line in enumerate(text.splitlines()):
        m = SYNTAX.match(line.strip())
        if m:
            return i, m.group(1)
        if not re.match(r"^#\s*\w+\s*=", line.strip()):
            return None
    return None


def frontend_unreachable(text: str, errors: str) -> Optional[str]:
    """The Dockerfile text without its ``# syntax=`` directive when the build failed only because
    BuildKit could not fetch that frontend image (no registry); else ``None``."""
    found = syntax_directive(text)
    if found is None:
        return None
    index, image = found
    path = image.split("@", 1)[0].rsplit(":", 1)[0].removeprefix("docker.io/")
    # Engine 20.10 names the gateway frontend; Engine 28.5 with buildx says "resolve source metadata".
    known = ("gateway.v0", "resolve image config", "resolve source metadata")
    if not any(k in errors for k in known) or path not in errors:
        return None
    lines = text.splitlines(keepends=True)
    lines[index] = "# (directive syntax ignorée : image du frontend inaccessible hors ligne)\n"
    return "".join(lines)


# -- running a BuildKit build ---------------------------------------------------------------------
@dataclass
class CliBuild:
    """What a BuildKit build left: the image id, the steps and a bounded log."""
    image_id: Optional[str]
    returncode: int
    lines: list[str]     # the kept lines (step lines and the tail)
    timed_out: bool = False


def command(builder: Builder, context: Path, dockerfile: Path, tag: str, labels: dict[str, str],
            iidfile: Path, secrets: Optional[dict[str, Path]] = None) -> tuple[list[str], dict[str, str]]:
    """The docker command and its extra environment for a BuildKit build (``secrets``: id -> file,
    for ``RUN --mount=type=secret``)."""
    base = ["docker", "buildx", "build", "--load"] if builder.kind == "buildx" else ["docker", "build"]
    args = [*base, "--progress=plain", "--pull=false", "-f", str(dockerfile), "-t", tag, "--iidfile", str(iidfile)]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    for key, src in (secrets or {}).items():
        args += ["--secret", f"id={key},src={src}"]
    # No provenance attestation: with the containerd image store it would add an index entry.
    # Nor git metadata of the (copied) context: buildx would warn that it is not a repository.
    env = {"DOCKER_BUILDKIT": "1", "BUILDX_NO_DEFAULT_ATTESTATIONS": "1", "BUILDKIT_PROGRESS": "plain",
           "BUILDX_GIT_INFO": "0"}
    return [*args, str(context)], env


def run_build(args: list[str], env: dict[str, str], timeout: float, *, keep: int = 200,
              abortable: Callable[[Callable[[], None]], ContextManager] = lambda kill: nullcontext(),
              observers: Iterable = ()) -> CliBuild:
    """Run a build command, reading its output as it comes (bounded: every step line, then the
    last ``keep`` lines), killed at the deadline. ``abortable(kill)`` is entered for the build's
    duration: whoever holds ``kill`` (the disk guard) may stop the build early."""
    steps: list[str] = []
    tail: deque[str] = deque(maxlen=keep)
    full_env = {k: v for k, v in os.environ.items()
                if k in CLI_ENV_KEYS or k.startswith(("LC_", "DOCKER_", "XDG_", "BUILDX_"))}
    full_env.update(env)
    event = {"args": list(args), "cwd": None, "env": dict(env), "returncode": None}
    for observer in observers:
        observer("start", event)
    proc = subprocess.Popen(args, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    timed_out = threading.Event()

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def watchdog() -> None:
        if not _wait(proc, timeout):
            timed_out.set()
            kill()

    threading.Thread(target=watchdog, name="build-watchdog", daemon=True).start()
    try:
        with abortable(kill):
            assert proc.stdout is not None
            for line in proc.stdout:
                line = ANSI.sub("", line.rstrip("\n"))[:500]
                if (STEP.match(line) or STATE.match(line)) and len(steps) < 5000:
                    steps.append(line)
                else:
                    tail.append(line)
            proc.wait()
    except BaseException:
        kill()  # Ctrl-C: no build outlives the grader
        proc.wait()
        raise
    event["returncode"] = proc.returncode
    for observer in observers:
        observer("end", event)
    return CliBuild(None, proc.returncode, steps + list(tail), timed_out.is_set())


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False
